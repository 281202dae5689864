"""The gate framework: eight gates always, honest placeholders, tiers, waivers, the report."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from hardened import ConfigError, GateResult, Service, Status, Tier, Waiver
from hardened.gates import GATE_NAMES, GATE_QUESTIONS, HONESTY_WARNING, GateBoard
from hardened.testing import FakeClock
from tests.bare import bare_service

EXPECTED_NAMES = (
    "lifecycle",
    "deadline",
    "loop",
    "pool",
    "idempotency",
    "breaker",
    "shutdown",
    "observe",
)


class TieredGate:
    """Passes at internal, warns at standard, fails at critical (like a missing SLO)."""

    def __init__(self, name: str, *, caveats: tuple[str, ...] = ()) -> None:
        self.name = name
        self.caveats = caveats

    def check(self, tier: Tier) -> GateResult:
        status = {Tier.INTERNAL: Status.PASS, Tier.STANDARD: Status.WARN}.get(tier, Status.FAIL)
        return GateResult(
            name=self.name,
            question="?",
            status=status,
            evidence={"tier_seen": tier.value, "slo": None},
            caveats=self.caveats,
        )


class PassingGate(TieredGate):
    def check(self, tier: Tier) -> GateResult:
        return GateResult(name=self.name, question="?", status=Status.PASS, caveats=self.caveats)


class BrokenGate(TieredGate):
    def check(self, tier: Tier) -> GateResult:
        raise KeyError("evidence source vanished")


def test_every_report_lists_the_eight_gates_in_order() -> None:
    """A fresh service reports all eight gates, in the stable order, by their stable names."""
    report = Service("svc").report()
    assert tuple(g["name"] for g in report["gates"]) == EXPECTED_NAMES == GATE_NAMES


def test_unbuilt_gates_fail_with_their_reason_never_pass() -> None:
    """A gate whose mechanism is not configured fails and says so."""
    report = bare_service("svc").report()
    assert report["status"] == "fail"
    for gate in report["gates"]:
        assert gate["status"] == "fail"
        assert gate["evidence"] == {"configured": False, "reason": "not configured"}
        assert gate["caveats"] == ["fail: not configured"]


def test_report_schema_is_the_documented_document() -> None:
    """The report has exactly the documented keys and JSON types, and serialises."""
    report = Service("svc", tier="critical").report()
    assert set(report) == {"service", "tier", "status", "gates", "warnings", "redacted"}
    assert report["service"] == "svc"
    assert report["tier"] == "critical"
    assert report["status"] in {"pass", "warn", "fail"}
    for gate in report["gates"]:
        assert set(gate) == {"name", "question", "status", "evidence", "caveats", "waiver"}
        assert gate["status"] in {"pass", "warn", "fail", "waived"}
        assert isinstance(gate["question"], str)
        assert gate["question"].endswith("?")
        assert isinstance(gate["evidence"], dict)
        assert isinstance(gate["caveats"], list)
    assert json.loads(json.dumps(report)) == report


@pytest.mark.parametrize(
    ("tier", "gate_status"),
    [("internal", "pass"), ("standard", "warn"), ("critical", "fail")],
)
def test_a_gate_decides_its_depth_per_tier(tier: str, gate_status: str) -> None:
    """The same evidence can pass for an internal tool and fail for a critical service."""
    service = Service("svc", tier=tier)
    service.gates.register(TieredGate("observe"))
    observe = service.report()["gates"][-1]
    assert observe["status"] == gate_status
    assert observe["evidence"]["tier_seen"] == tier


def test_report_can_be_evaluated_at_another_tier() -> None:
    """`report(tier)` evaluates at the asked tier, not the service's own."""
    service = Service("svc", tier="internal")
    service.gates.register(TieredGate("observe"))
    assert service.report("critical")["gates"][-1]["status"] == "fail"
    assert service.report()["gates"][-1]["status"] == "pass"


def test_tier_order() -> None:
    """critical ⊇ standard ⊇ internal."""
    assert Tier.CRITICAL.at_least(Tier.STANDARD)
    assert Tier.STANDARD.at_least(Tier.STANDARD)
    assert not Tier.INTERNAL.at_least(Tier.STANDARD)


def test_unknown_tier_is_a_config_error() -> None:
    """A tier outside internal|standard|critical is refused at construction."""
    with pytest.raises(ConfigError, match="tier must be one of"):
        Service("svc", tier="gold")


def test_valid_waiver_waives_a_failing_gate_and_stays_visible() -> None:
    """A waived gate shows `waived` with its reason and expiry; the report warns, not fails."""
    clock = FakeClock()
    clock.set_wall(dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp())
    waivers = {
        name: Waiver(reason="batch tool", expires=dt.date(2026, 12, 31)) for name in GATE_NAMES
    }
    service = bare_service("svc", waivers=waivers, clock=clock)
    report = service.report()
    assert report["status"] == "warn"
    for gate in report["gates"]:
        assert gate["status"] == "waived"
        assert gate["waiver"] == {"reason": "batch tool", "expires": "2026-12-31"}
        assert "configured" in gate["evidence"], "the evidence stays visible under a waiver"


def test_expired_waiver_fails_the_gate() -> None:
    """The day after its expiry a waiver no longer protects the gate."""
    clock = FakeClock()
    clock.set_wall(dt.datetime(2027, 1, 1, 0, 0, 1, tzinfo=dt.UTC).timestamp())
    waiver = Waiver(reason="until the pool lands", expires=dt.date(2026, 12, 31))
    service = Service("svc", waivers={"pool": waiver}, clock=clock)
    pool = service.report()["gates"][3]
    assert pool["name"] == "pool"
    assert pool["status"] == "fail"
    assert "waiver expired on 2026-12-31" in pool["caveats"]
    assert pool["waiver"]["expires"] == "2026-12-31"


def test_waiver_on_the_last_day_still_holds() -> None:
    """Expiry is inclusive: on the expiry date the waiver still applies."""
    clock = FakeClock()
    clock.set_wall(dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC).timestamp())
    waiver = Waiver(reason="r", expires=dt.date(2026, 12, 31))
    service = bare_service("svc", waivers={"pool": waiver}, clock=clock)
    assert service.report()["gates"][3]["status"] == "waived"


def test_waiver_without_expiry_and_on_a_passing_gate() -> None:
    """An open-ended waiver holds; on a gate that passes it is flagged as no longer needed."""
    service = Service("svc", waivers={"loop": Waiver(reason="r")})
    service.gates.register(PassingGate("loop"))
    loop = service.report()["gates"][2]
    assert loop["status"] == "pass"
    assert "waiver is no longer needed: the gate passes" in loop["caveats"]
    assert loop["waiver"] == {"reason": "r", "expires": None}, "the waiver stays visible"


def test_waiver_needs_a_reason_and_a_known_gate() -> None:
    """A waiver without a reason, or for a gate that does not exist, is refused."""
    with pytest.raises(ConfigError, match="reason"):
        Waiver(reason="  ")
    with pytest.raises(ConfigError, match="unknown gates"):
        GateBoard(waivers={"tls": Waiver(reason="r")})


def test_honesty_warning_for_an_all_pass_critical_report() -> None:
    """A critical report where every gate passes with no caveat is flagged, not celebrated."""
    service = Service("svc", tier="critical")
    for name in GATE_NAMES:
        service.gates.register(PassingGate(name))
    report = service.report()
    assert report["status"] == "warn"
    assert report["warnings"] == [HONESTY_WARNING]
    assert service.report("standard")["status"] == "pass"
    assert service.report("standard")["warnings"] == []


def test_no_honesty_warning_when_caveats_are_stated() -> None:
    """Stating a residual risk is what the honesty rule asks for."""
    service = Service("svc", tier="critical")
    for name in GATE_NAMES:
        service.gates.register(PassingGate(name, caveats=("breakers are per process",)))
    report = service.report()
    assert report["status"] == "pass"
    assert report["warnings"] == []


def test_a_gate_whose_check_raises_fails_alone() -> None:
    """One broken check fails its own gate with the error as evidence; the report still renders."""
    service = Service("svc")
    service.gates.register(BrokenGate("pool"))
    service.gates.register(PassingGate("loop"))
    gates = {g["name"]: g for g in service.report()["gates"]}
    assert gates["pool"]["status"] == "fail"
    assert "KeyError" in gates["pool"]["evidence"]["check_error"]
    assert gates["loop"]["status"] == "pass"


def test_registering_an_unknown_gate_is_refused() -> None:
    """Gate names are a closed set."""
    with pytest.raises(ConfigError, match="unknown gate"):
        Service("svc").gates.register(PassingGate("tls"))


def test_critical_report_with_failing_gates_fails_without_the_honesty_warning() -> None:
    """Three failing gates among passing ones at critical: `fail`, never softened to `warn`."""
    service = Service("svc", tier="critical")
    for name in GATE_NAMES[:5]:
        service.gates.register(PassingGate(name))
    for name in GATE_NAMES[5:]:
        service.gates.register(TieredGate(name))
    report = service.report()
    assert report["status"] == "fail"
    assert report["warnings"] == []


def test_critical_report_with_a_warning_gate_has_no_honesty_warning() -> None:
    """Seven clean passes and one warning at critical: `warn` from the gate, no honesty flag."""
    service = Service("svc", tier="critical")
    for name in GATE_NAMES[:-1]:
        service.gates.register(PassingGate(name))
    service.gates.register(TieredGate(GATE_NAMES[-1]))
    assert service.report("standard")["status"] == "warn"
    assert service.report("standard")["warnings"] == []


def _on(day: dt.datetime) -> FakeClock:
    clock = FakeClock()
    clock.set_wall(day.timestamp())
    return clock


EXPIRED_CLOCK = dt.datetime(2027, 1, 1, 0, 0, 1, tzinfo=dt.UTC)


def test_expired_waiver_on_a_warning_gate_fails_it() -> None:
    """A gate that only warns fails once its waiver has expired; the report exits as failed."""
    waiver = Waiver(reason="SLOs next quarter", expires=dt.date(2026, 12, 31))
    service = bare_service(
        "svc", tier="standard", waivers={"observe": waiver}, clock=_on(EXPIRED_CLOCK)
    )
    for name in GATE_NAMES[:-1]:
        service.gates.register(PassingGate(name, caveats=("stated",)))
    service.gates.register(TieredGate("observe"))
    report = service.report()
    observe = report["gates"][-1]
    assert observe["status"] == "fail"
    assert "waiver expired on 2026-12-31" in observe["caveats"]
    assert report["status"] == "fail"


def test_expired_waiver_on_a_passing_gate_fails_it() -> None:
    """An expired waiver is a decision nobody renewed: even a passing gate fails until removed."""
    waiver = Waiver(reason="r", expires=dt.date(2026, 12, 31))
    service = Service("svc", waivers={"loop": waiver}, clock=_on(EXPIRED_CLOCK))
    service.gates.register(PassingGate("loop"))
    loop = service.report()["gates"][2]
    assert loop["status"] == "fail"
    assert "waiver expired on 2026-12-31" in loop["caveats"]
    assert "waiver is no longer needed: the gate passes" not in loop["caveats"]
    assert loop["waiver"] == {"reason": "r", "expires": "2026-12-31"}


def test_open_ended_waiver_waives_a_failing_gate() -> None:
    """A waiver with no end date waives a failing gate: `waived`, the report warns, not fails."""
    waivers = {name: Waiver(reason="batch tool") for name in GATE_NAMES}
    service = bare_service("svc", waivers=waivers, clock=_on(EXPIRED_CLOCK))
    report = service.report()
    assert report["status"] == "warn"
    for gate in report["gates"]:
        assert gate["status"] == "waived"
        assert gate["waiver"] == {"reason": "batch tool", "expires": None}
        assert gate["caveats"] == ["fail: not configured"]


def test_valid_waiver_waives_a_warning_gate() -> None:
    """A warning gate under a valid waiver shows `waived` with its own caveats kept."""
    waiver = Waiver(reason="r", expires=dt.date(2026, 12, 31))
    clock = _on(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    service = Service("svc", tier="standard", waivers={"observe": waiver}, clock=clock)
    service.gates.register(TieredGate("observe", caveats=("no SLO",)))
    observe = service.report()["gates"][-1]
    assert observe["status"] == "waived"
    assert observe["caveats"] == ["no SLO"]


def test_a_report_with_only_passes_and_waivers_warns() -> None:
    """Waived is a visible exception: a report of passes and one waiver is `warn`, not `pass`."""
    service = Service("svc", waivers={"loop": Waiver(reason="r")})
    for name in GATE_NAMES:
        service.gates.register(PassingGate(name, caveats=("stated",)))
    service.gates.register(TieredGate("loop"))
    assert service.report("standard")["status"] == "warn"
    assert service.report("internal")["gates"][2]["status"] == "pass"


def test_tier_ranks() -> None:
    """internal < standard < critical, each at least itself."""
    assert [tier.rank for tier in Tier] == [0, 1, 2]
    assert Tier.CRITICAL.at_least(Tier.CRITICAL)
    assert not Tier.STANDARD.at_least(Tier.CRITICAL)
    assert Tier.INTERNAL.at_least(Tier.INTERNAL)


def test_the_board_reports_which_gates_are_configured() -> None:
    """Only gates a mechanism answers for are listed as configured; placeholders are not."""
    board = GateBoard()
    assert board.configured() == ()
    board.register(PassingGate("loop"))
    assert board.configured() == ("loop",)
    assert isinstance(board.gate("loop"), PassingGate)


def test_a_broken_check_states_its_unknown_evidence() -> None:
    """A check that raises fails with a caveat saying its evidence is unknown."""
    board = GateBoard()
    board.register(BrokenGate("pool"))
    pool = board.results(Tier.STANDARD)[3]
    assert pool.status is Status.FAIL
    assert pool.question == GATE_QUESTIONS["pool"]
    assert pool.caveats == ("the gate's check raised; its evidence is unknown",)
    assert pool.evidence == {"check_error": "KeyError: 'evidence source vanished'"}


def test_waiver_expiry_is_decided_in_utc_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Just after midnight UTC on the day after expiry, a host in UTC-8 still sees it expired."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        waiver = Waiver(reason="r", expires=dt.date(2026, 12, 31))
        service = Service("svc", waivers={"pool": waiver}, clock=_on(EXPIRED_CLOCK))
        assert service.report()["gates"][3]["status"] == "fail"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_waiver_without_a_reason_says_so() -> None:
    """The refusal names what is missing."""
    with pytest.raises(ConfigError, match=r"^a waiver needs a reason$"):
        Waiver(reason="")


def test_refresh_asks_every_gate_that_caches_to_drop_it() -> None:
    """`refresh()` reaches each gate with a `refresh` method (a cached scan), and no other."""

    class CachingGate(PassingGate):
        refreshed = 0

        def refresh(self) -> None:
            self.refreshed += 1

    board = GateBoard()
    caching = [CachingGate(name) for name in ("deadline", "pool")]
    for gate in (*caching, PassingGate("loop")):
        board.register(gate)
    board.refresh()
    board.refresh()
    assert [gate.refreshed for gate in caching] == [2, 2]
