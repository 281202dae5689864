"""Prometheus rules for a service, generated from its RED metrics and SLO declarations.

`hardened rules MODULE:ATTR` prints them. Per SLO: request-weighted error ratios and burn rates
over 5m, 30m, 1h, 2h, 6h, 1d and 3d; the error ratio over the SLO period and the fraction of
the period's error budget left; multiwindow, multi-burn-rate alerts (Google SRE workbook):
page at 14.4x over 1h and 5m or 6x over 6h and 30m, ticket at 3x over 1d and 2h or 1x over 3d
and 6h (factors for a 30-day period; other periods scale them), each only once its long window
holds `SLO.min_bad_requests` bad requests (the workbook's low-traffic guard). The same windows,
ratio and guard are used in process (`slo_burn_rate`, the observe gate), so the two agree.
Requests the caller's own budget decided (`route="__caller__"`) are neither SLO events nor
errors, here as in process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.utils import floatToGoString

from hardened.errors import ConfigError
from hardened.faults import CALLER
from hardened.observe import SLO, RedMetrics
from hardened.observe._slo import window_name

if TYPE_CHECKING:
    from hardened.service import Service

__all__ = ["RULE_WINDOWS", "alert_factors", "render_rules"]

RULE_WINDOWS: tuple[int, ...] = (300, 1800, 3600, 7200, 21600, 86400, 259200)
# (severity, long window, short window, fraction of the period's budget spent in the long window)
_ALERTS: tuple[tuple[str, int, int, float], ...] = (
    ("page", 3600, 300, 0.02),
    ("page", 21600, 1800, 0.05),
    ("ticket", 86400, 7200, 0.10),
    ("ticket", 259200, 21600, 0.10),
)


def alert_factors(slo: SLO) -> list[tuple[str, int, int, float]]:
    """(severity, long, short, burn factor) per alert window pair, scaled to the SLO's period."""
    period = slo.period_days * 86400
    return [
        (severity, long, short, round(fraction * period / long, 4))
        for severity, long, short, fraction in _ALERTS
    ]


_5XX = 'status=~"5.."'
# A request its caller's own budget decided (hardened.faults) is no SLO event and no error.
_NOT_CALLER = f'route!="{CALLER}"'


def _q(value: str) -> str:
    return json.dumps(value)


def _record(name: str, expr: str, labels: str) -> str:
    return f"      - record: {name}\n        expr: {_q(expr)}\n{labels}"


def _matchers(*parts: str) -> str:
    return "{" + ",".join(part for part in parts if part) + "}"


def _route_matcher(slo: SLO) -> str:
    if not slo.routes:
        return ""
    pattern = "|".join(re.escape(route) for route in slo.routes)
    return 'route=~"' + pattern.replace("\\", "\\\\") + '"'


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text))


def _sli_error(slo: SLO, selector: str, window: str, buckets: tuple[float, ...]) -> str:
    route = _route_matcher(slo) or _NOT_CALLER
    if slo.latency is None:
        total = f"http_server_requests_total{_matchers(selector, route)}"
        bad = f"http_server_requests_total{_matchers(selector, route, _5XX)}"
        return f"sum(rate({bad}[{window}])) / sum(rate({total}[{window}]))"
    if slo.latency not in buckets:
        raise ConfigError(f"SLO {slo.name}: {slo.latency}s is not a bucket boundary {buckets}")
    le = f'le="{floatToGoString(slo.latency)}"'  # type: ignore[no-untyped-call]
    total = f"http_server_request_duration_seconds_count{_matchers(selector, route)}"
    good = "http_server_request_duration_seconds_bucket" + _matchers(
        selector, route, le, 'status_class!="5xx"'
    )
    return f"1 - (sum(rate({good}[{window}])) / sum(rate({total}[{window}])))"


def _sli_bad(slo: SLO, selector: str, window: str) -> str:
    """Bad requests over `window` (the minimum-traffic guard of the burn-rate alerts)."""
    route = _route_matcher(slo) or _NOT_CALLER
    if slo.latency is None:
        bad = f"http_server_requests_total{_matchers(selector, route, _5XX)}"
        return f"sum(increase({bad}[{window}]))"
    le = f'le="{floatToGoString(slo.latency)}"'  # type: ignore[no-untyped-call]
    total = f"http_server_request_duration_seconds_count{_matchers(selector, route)}"
    good = "http_server_request_duration_seconds_bucket" + _matchers(
        selector, route, le, 'status_class!="5xx"'
    )
    return f"sum(increase({total}[{window}])) - sum(increase({good}[{window}]))"


def _red_rules(name: str, selector: str) -> Iterator[str]:
    requests = f"http_server_requests_total{_matchers(selector)}"
    errors = f"http_server_requests_total{_matchers(selector, _5XX, _NOT_CALLER)}"
    buckets = f"http_server_request_duration_seconds_bucket{_matchers(selector)}"
    labels = f"        labels:\n          service: {_q(name)}"
    rules = [
        ("service:http_server_requests:rate5m", f"sum(rate({requests}[5m]))"),
        (
            "service:http_server_request_errors:ratio_rate5m",
            f"sum(rate({errors}[5m])) / sum(rate({requests}[5m]))",
        ),
        (
            "route:http_server_requests:rate5m",
            f"sum by (route, method, status) (rate({requests}[5m]))",
        ),
        (
            "route:http_server_request_errors:ratio_rate5m",
            f"sum by (route) (rate({errors}[5m])) / sum by (route) (rate({requests}[5m]))",
        ),
        (
            "service:http_server_active_requests:sum",
            f"sum(http_server_active_requests{_matchers(selector)})",
        ),
    ]
    for quantile, suffix in (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99")):
        rules.append(
            (
                f"route:http_server_request_duration_seconds:{suffix}_5m",
                f"histogram_quantile({quantile}, sum by (route, le) (rate({buckets}[5m])))",
            )
        )
    yield f"  - name: {_q(name + '-red')}\n    rules:"
    for record, expr in rules:
        yield _record(record, expr, labels)
    # The in-flight gauge exists from the first scrape; the request counter only after the
    # first request, so absent() on it would open a ticket for every idle or new service.
    active = f"http_server_active_requests{_matchers(selector)}"
    yield (
        f"      - alert: {_camel(name)}MetricsAbsent\n"
        f"        expr: {_q(f'absent({active})')}\n"
        "        for: 10m\n"
        f"        labels:\n          severity: ticket\n          service: {_q(name)}\n"
        "        annotations:\n"
        f"          summary: {_q(f'{name}: no RED metrics scraped for 10 minutes')}"
    )


def _slo_rules(name: str, selector: str, slo: SLO, buckets: tuple[float, ...]) -> Iterator[str]:
    labels = f"        labels:\n          service: {_q(name)}\n          slo: {_q(slo.name)}"
    ident = f'{{service="{name}",slo="{slo.name}"}}'
    budget = f"(1 - {slo.objective!r})"
    yield f"  - name: {_q(f'{name}-slo-{slo.name}')}\n    rules:"
    for seconds in RULE_WINDOWS:
        window = window_name(seconds)
        expr = _sli_error(slo, selector, window, buckets)
        yield _record(f"slo:sli_error:ratio_rate{window}", expr, labels)
    for seconds in RULE_WINDOWS:
        window = window_name(seconds)
        expr = f"slo:sli_error:ratio_rate{window}{ident} / {budget}"
        yield _record(f"slo:error_budget_burn:rate{window}", expr, labels)
    yield _record("slo:objective:ratio", f"vector({slo.objective!r})", labels)
    period = window_name(slo.period_days * 86400)
    yield _record(
        f"slo:sli_error:ratio_rate{period}", _sli_error(slo, selector, period, buckets), labels
    )
    remaining = f"1 - slo:sli_error:ratio_rate{period}{ident} / {budget}"
    yield _record("slo:error_budget_remaining:ratio", remaining, labels)
    for long in sorted({long for _, long, _, _ in alert_factors(slo)}):
        window = window_name(long)
        yield _record(f"slo:sli_bad:increase{window}", _sli_bad(slo, selector, window), labels)
    for severity in ("page", "ticket"):
        pairs = [
            f"(slo:error_budget_burn:rate{window_name(long)}{ident} > {factor!r}"
            f" and slo:error_budget_burn:rate{window_name(short)}{ident} > {factor!r}"
            f" and slo:sli_bad:increase{window_name(long)}{ident} >= {slo.min_bad_requests})"
            for sev, long, short, factor in alert_factors(slo)
            if sev == severity
        ]
        summary = (
            f"{name}: SLO {slo.name} ({slo.objective:.4%} {slo.kind}) is burning its error "
            f"budget fast enough to need a {severity}"
        )
        yield (
            f"      - alert: {_camel(name)}{_camel(slo.name)}ErrorBudgetBurn{_camel(severity)}\n"
            f"        expr: {_q(' or '.join(pairs))}\n"
            f"        labels:\n          severity: {severity}\n"
            f"          service: {_q(name)}\n          slo: {_q(slo.name)}\n"
            f"        annotations:\n          summary: {_q(summary)}"
        )


def render_rules(service: Service) -> str:
    """The rule file (YAML) for `service`: RED recording rules, SLO records and alerts."""
    observability = service.observability
    metrics: RedMetrics | None = observability.metrics
    header = f"# Prometheus rules for {service.name} (generated by `hardened rules`).\n"
    if metrics is None or observability.config is None:
        return header + "# RED metrics are off (observe=None): nothing to record.\ngroups: []\n"
    selector = observability.config.selector(service.name)
    lines = [header.rstrip("\n"), f"# Series selected by {{{selector}}}.", "groups:"]
    lines.extend(_red_rules(service.name, selector))
    for slo in observability.slos:
        lines.extend(_slo_rules(service.name, selector, slo, metrics.buckets))
    return "\n".join(lines) + "\n"
