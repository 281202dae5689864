"""Shutdown drill: SIGTERM with requests in flight on the declared slow request."""

from __future__ import annotations

import signal
import threading
import time

from hardened.drill._declared import IN_FLIGHT_WAIT_S, SlowRequest, slow_request
from hardened.drill._model import Drill, Outcome, measure
from hardened.drill._target import Target
from hardened.drill._wire import Answer, request

__all__ = ["DRILLS"]

IN_FLIGHT = 4
SETTLE_S = 0.3  # a request still unanswered this long after it was sent has reached the handler
REFUSED_RETRIES = 5  # a request refused on arrival (503) before the signal is sent again


class _Sender(threading.Thread):
    """Sends the slow request until it is admitted: a 503 before the signal (a shedder or a
    bound refusing it on arrival) is no request in flight, so it goes again, a few times."""

    def __init__(
        self, fresh: Target, slow: SlowRequest, timeout: float, signalled: threading.Event
    ) -> None:
        super().__init__(daemon=True)
        self._fresh, self._slow, self._timeout, self._signalled = fresh, slow, timeout, signalled
        self.answer = Answer(0, {}, b"not sent", 0.0)
        self.refused_on_arrival = 0
        self.outstanding_since: float | None = None

    def run(self) -> None:
        for attempt in range(REFUSED_RETRIES + 1):
            self.outstanding_since = time.monotonic()
            try:
                self.answer = self._fresh.send(self._slow.spec, timeout=self._timeout)
            except OSError as exc:
                self.answer = Answer(0, {}, str(exc).encode(), 0.0)
            self.outstanding_since = None
            if self._signalled.is_set() or self.answer.status != 503:
                return
            if attempt < REFUSED_RETRIES:
                self.refused_on_arrival += 1
                time.sleep(0.05)

    def admitted(self, now: float) -> bool:
        """Sent and unanswered for `SETTLE_S`: the handler has it."""
        since = self.outstanding_since
        return since is not None and now - since >= SETTLE_S


def _await_admitted(senders: list[_Sender]) -> None:
    """Until every sender's request has been unanswered for `SETTLE_S`, or its sender gave up
    (answered, retries spent); at most 10 s."""
    deadline = time.monotonic() + IN_FLIGHT_WAIT_S
    while time.monotonic() < deadline:
        now = time.monotonic()
        if all(sender.admitted(now) or not sender.is_alive() for sender in senders):
            return
        time.sleep(0.02)


def _status(answer: Answer) -> str:
    """The status, with the problem type's last word when the body names one."""
    problem = answer.json()
    kind = problem.get("type") if isinstance(problem, dict) else None
    return f"{answer.status} {str(kind).rsplit('/', 1)[-1]}" if kind else str(answer.status)


def in_flight(target: Target) -> Outcome:
    slow = slow_request(target)
    with target.fresh() as fresh:
        assert fresh.server is not None
        budget = float(fresh.evidence("shutdown").get("budget", {}).get("total_s", 30.0))
        slow.slow_down(fresh)  # the process ends with the drill: nothing to restore
        signalled_event = threading.Event()
        senders = [_Sender(fresh, slow, budget + 10, signalled_event) for _ in range(IN_FLIGHT)]
        for sender in senders:
            sender.start()
        if slow.dependency is None:  # else the dependency counts who waits on it
            _await_admitted(senders)
        waiting = slow.wait_in_flight(fresh, IN_FLIGHT, 0.0)
        signalled = time.monotonic()
        signalled_event.set()
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
        for sender in senders:
            sender.join(budget + 10)
    answers = [sender.answer for sender in senders]
    served = [a for a in answers if 200 <= a.status < 300]
    failures = []
    if len(served) != IN_FLIGHT:
        statuses = ", ".join(sorted(_status(a) for a in answers))
        failures.append(
            f"{IN_FLIGHT - len(served)} of {IN_FLIGHT} in-flight requests cut, "
            f"answered [{statuses}]"
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
        "refused_on_arrival_and_resent": sum(sender.refused_on_arrival for sender in senders),
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
