"""The wiring scan: every call scans before start-up, once after it, again on refresh."""

from __future__ import annotations

from hardened.endpoints import metrics_encoder
from hardened.service import Phase
from hardened.wiring import WiringScan
from tests.apps.edge_wiring import app as wiring_service


def test_scan_is_cached_once_the_service_serves_and_refreshed_on_demand() -> None:
    """Before serving: a scan per call; serving: one scan; refresh: one more."""
    scan = WiringScan(wiring_service, ())
    wiring_service.phase = Phase.CREATED
    first = scan.result()
    scan.result()
    assert scan.scans == 2
    assert not scan.cached
    wiring_service.phase = Phase.READY
    try:
        assert scan.result() == first
        scan.result()
        assert scan.scans == 3
        assert scan.cached
        scan.refresh()
        scan.result()
        assert scan.scans == 4
    finally:
        wiring_service.phase = Phase.CREATED
    assert {"where": "tests.apps.edge_wiring.legacy_client", "type": "httpx.AsyncClient"} in first


def test_metrics_encoder_falls_back_to_text_for_unreadable_accept() -> None:
    """`version=abc` makes prometheus-client raise; the answer is the text format instead."""
    _, content_type = metrics_encoder("application/openmetrics-text; version=abc")
    assert content_type.startswith("text/plain")
    _, open_metrics = metrics_encoder("application/openmetrics-text; version=1.0.0")
    assert open_metrics.startswith("application/openmetrics-text")
