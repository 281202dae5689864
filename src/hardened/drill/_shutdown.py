"""Shutdown drill: SIGTERM with requests in flight on the declared slow request."""

from __future__ import annotations

import signal
import threading
import time

from hardened.drill._declared import slow_request
from hardened.drill._model import Drill, Outcome, measure
from hardened.drill._target import Target
from hardened.drill._wire import Answer, request

__all__ = ["DRILLS"]

IN_FLIGHT = 4
SETTLE_S = 0.3  # a declared slow request: let it reach the handler before the signal


def in_flight(target: Target) -> Outcome:
    slow = slow_request(target)
    with target.fresh() as fresh:
        assert fresh.server is not None
        budget = float(fresh.evidence("shutdown").get("budget", {}).get("total_s", 30.0))
        slow.slow_down(fresh)  # the process ends with the drill: nothing to restore
        answers: list[Answer] = []

        def send() -> None:
            try:
                answers.append(fresh.send(slow.spec, timeout=budget + 10))
            except OSError as exc:
                answers.append(Answer(0, {}, str(exc).encode(), 0.0))

        threads = [threading.Thread(target=send) for _ in range(IN_FLIGHT)]
        for thread in threads:
            thread.start()
        waiting = slow.wait_in_flight(fresh, IN_FLIGHT, SETTLE_S)
        signalled = time.monotonic()
        fresh.server.signal(signal.SIGTERM)
        unready_after: float | None = None
        while fresh.server.process.poll() is None and time.monotonic() - signalled < budget + 5:
            if unready_after is None:
                try:
                    if request(fresh.admin_url, "GET", "/readyz", timeout=1.0).status == 503:
                        unready_after = time.monotonic() - signalled
                except OSError:
                    pass
            time.sleep(0.05)
        code = fresh.server.wait(timeout=budget + 10)
        exited_after = time.monotonic() - signalled
        for thread in threads:
            thread.join(budget + 10)
    served = [a for a in answers if 200 <= a.status < 300]
    failures = []
    if len(served) != IN_FLIGHT:
        statuses = sorted(a.status for a in answers)
        failures.append(
            f"{IN_FLIGHT - len(served)} of {IN_FLIGHT} in-flight requests cut, answered {statuses}"
        )
    if waiting is not None and waiting < IN_FLIGHT:
        failures.append(
            f"only {waiting} of {IN_FLIGHT} requests were in flight at {slow.dependency} when "
            "SIGTERM came: the drill proved less than it should"
        )
    if unready_after is None:
        failures.append("readiness never answered 503 before the process exited")
    if code != 0:
        failures.append(f"exit code {code} after SIGTERM, not 0")
    if exited_after > budget:
        failures.append(f"exited {exited_after:.1f} s after SIGTERM, past the {budget} s budget")
    measured: dict[str, float | int | str | None] = {
        "in_flight": IN_FLIGHT,
        "request": slow.role,
        "slow_dependency_s": slow.latency_s,
        "waiting_at_sigterm": waiting,
        "served": len(served),
        "readyz_503_after_s": None if unready_after is None else round(unready_after, 3),
        "exit_code": code,
        "exited_after_s": round(exited_after, 3),
        "budget_s": budget,
    }
    return measure(measured, failures, f"all served, exit 0 in {exited_after:.2f} s")


DRILLS = (
    Drill(
        gate="shutdown",
        name="sigterm_in_flight",
        did=f"start {IN_FLIGHT} declared slow requests (or outbound ones, their dependency made "
        "slow), then SIGTERM the process",
        expected="every request answered 2xx, /readyz 503 first, exit 0 within the budget",
        run=in_flight,
        needs_process=True,
    ),
)
