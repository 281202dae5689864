"""The surviving mutants no test can tell from the original, each with the reason.

Keyed by the mutated function and its changed line before and after, as `mutmut show` prints
them, never by mutant number: an edit elsewhere in a function renumbers its mutants, and a
number would then lend its reason to another mutant. `tools/mutation_scores.py` lists each
survivor found here with its reason; any other survivor is a missing test.
"""

from __future__ import annotations

_TASK_LOOKUP = (
    "equivalent: the task lookup only chooses between the interpreter's task table and "
    "`asyncio.current_task`, which return the same task (tests/test_deadline_stage.py checks "
    "both paths agree)"
)
_PERF = "equivalent: a cache or shortcut recomputed each time; the outcome is the same"
_STRICTER_CALM = (
    "equivalent: a stricter fast-path test only sends more requests through `decide()`, which "
    "admits them (tests/test_shed_fast_path.py checks the other direction on 20,000 states)"
)
_EQUAL_FLOATS = "equivalent: differs only when two measured float times are equal to the bit"
_STRICTER_INLINE = (
    "equivalent: differs only when two measured float times are equal to the bit, and then the "
    "request goes through `check()`, which admits it as the written-out test would have"
)
_DEADLINE_RETRY_AFTER = (
    "equivalent: the 504 for a spent caller budget carries no Retry-After; the value only keys "
    "the answer cache"
)
_FIRST_TICK = (
    "equivalent: the first heartbeat tick resets it (activity counts start at 0, never -1, -2 "
    "or None)"
)
_SYSTEM_CLOCK = (
    "equivalent: with the system clock the request's start time and `time.monotonic()` are the "
    "same clock"
)
_EPOCH = (
    "equivalent: epochs are only compared for equality, and every transition still moves to a "
    "number not used before"
)
_PERMITS = (
    "equivalent: probe permits are read only in half-open, and the move into half-open sets "
    "them to `probes`"
)
_PROBE_SUCCESSES = (
    "equivalent: probe successes are counted only in half-open, and the move into half-open "
    "resets them"
)
_STAMP = (
    "equivalent: a bucket's stamp is read only with its counts, and the roll that first writes "
    "a bucket stamps it"
)
_HEAD_BEFORE_ZERO = (
    "equivalent for clock readings of 0 or more: the first roll also clears one bucket of a "
    "second before zero, which is empty"
)
_LONG_GAP = (
    "equivalent: a gap longer than the window clears every bucket either way; the extra passes "
    "clear buckets that a later pass of the same roll clears and stamps again"
)
_FLOOR_SECOND = (
    "equivalent for clock readings of 0 or more: the floor's count is read only in the second "
    "it was last reset in, where it starts at 0 (second -1 never comes; second 1 finds 0)"
)
_CODEC = "equivalent: another name of the same codec"
_NO_QUERY = (
    "equivalent: a scope without `query_string` then gives None, which the fingerprint reads "
    "as no query, as it does b''"
)
_NO_MORE_BODY = (
    "equivalent: an absent `more_body` reads as None, which is false like the default False"
)
_NOT_NONE = "equivalent: `not None` is true like `not False`"
_UNIQUE = (
    "equivalent: row ids and lease tokens are only compared for equality; any start gives "
    "distinct values"
)
_SAME_SECOND = "equivalent: when the second is the head's, both branches return the head's bucket"

# (mutated function, line before, line after): why no input tells the two apart.
EQUIVALENT: dict[tuple[str, str, str], str] = {
    # breaker/_breaker.py
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁ__init__",
        "- self._epoch = 0",
        "+ self._epoch = 1",
    ): _EPOCH,
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁ__init__",
        "- self._open_until = 0.0",
        "+ self._open_until = None",
    ): "equivalent: the open-until time is read only while open, and every trip sets it first",
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁ__init__",
        "- self._open_until = 0.0",
        "+ self._open_until = 1.0",
    ): "equivalent: the open-until time is read only while open, and every trip sets it first",
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁ__init__",
        "- self._permits = 0",
        "+ self._permits = None",
    ): _PERMITS,
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁ__init__",
        "- self._permits = 0",
        "+ self._permits = 1",
    ): _PERMITS,
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁ__init__",
        "- self._probe_successes = 0",
        "+ self._probe_successes = None",
    ): _PROBE_SUCCESSES,
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁ__init__",
        "- self._probe_successes = 0",
        "+ self._probe_successes = 1",
    ): _PROBE_SUCCESSES,
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁ_move",
        "- self._permits = self.config.probes if state is _HALF_OPEN else 0",
        "+ self._permits = self.config.probes if state is _HALF_OPEN else 1",
    ): _PERMITS,
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁ_move",
        "- self._epoch += 1",
        "+ self._epoch -= 1",
    ): _EPOCH,
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁ_move",
        "- self._epoch += 1",
        "+ self._epoch += 2",
    ): _EPOCH,
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁ_move",
        "- self._permits = self.config.probes if state is _HALF_OPEN else 0",
        "+ self._permits = self.config.probes if (state is _HALF_OPEN) or True else 0",
    ): _PERMITS,
    (
        "hardened.breaker._breaker.xǁCircuitBreakerǁacquire",
        "- wait = self.retry_after(now)",
        "+ wait = self.retry_after(None)",
    ): (
        "equivalent: `retry_after()` then reads the clock itself one statement later; the "
        "wait differs by the nanoseconds between two clock reads, never on FakeClock"
    ),
    # breaker/_window.py
    (
        "hardened.breaker._window.xǁRateWindowǁ__init__",
        "- self._stamps = [-1] * buckets",
        "+ self._stamps = [+1] * buckets",
    ): _STAMP,
    (
        "hardened.breaker._window.xǁRateWindowǁ__init__",
        "- self._stamps = [-1] * buckets",
        "+ self._stamps = [-2] * buckets",
    ): _STAMP,
    (
        "hardened.breaker._window.xǁRateWindowǁ__init__",
        "- self._head = -1",
        "+ self._head = -2",
    ): _HEAD_BEFORE_ZERO,
    (
        "hardened.breaker._window.xǁRateWindowǁclear",
        "- self._head = -1",
        "+ self._head = -2",
    ): _HEAD_BEFORE_ZERO,
    (
        "hardened.breaker._window.xǁRateWindowǁclear",
        "- self._stamps[:] = [-1] * self._size",
        "+ self._stamps[:] = [+1] * self._size",
    ): _STAMP,
    (
        "hardened.breaker._window.xǁRateWindowǁclear",
        "- self._stamps[:] = [-1] * self._size",
        "+ self._stamps[:] = [-2] * self._size",
    ): _STAMP,
    (
        "hardened.breaker._window.xǁRateWindowǁroll",
        "- for passed in range(max(head + 1, second - self._size + 1), second + 1):",
        "+ for passed in range(max(head + 1, second - self._size - 1), second + 1):",
    ): _LONG_GAP,
    (
        "hardened.breaker._window.xǁRateWindowǁroll",
        "- if second < head:  # a clock read taken before another caller's write",
        "+ if second <= head:  # a clock read taken before another caller's write",
    ): _SAME_SECOND,
    # deadline/_expiry.py
    (
        "hardened.deadline._expiry.xǁExpiryQueueǁ__init__",
        "- self.loop: asyncio.AbstractEventLoop | None = None",
        '+ self.loop: asyncio.AbstractEventLoop | None = ""',
    ): "equivalent: any value other than the running loop makes the first `add` adopt the loop",
    (
        "hardened.deadline._expiry.xǁExpiryQueueǁ_fire",
        "- if exchange.expires > now:",
        "+ if exchange.expires >= now:",
    ): _EQUAL_FLOATS,
    # deadline/_stage.py
    (
        "hardened.deadline._stage.x_task_lookup",
        "- current = asyncio.current_task(loop)",
        "+ current = asyncio.current_task(None)",
    ): _TASK_LOOKUP,
    (
        "hardened.deadline._stage.x_task_lookup",
        '- table = getattr(asyncio.tasks, "_current_tasks", None)',
        '+ table = getattr(asyncio.tasks, "_current_tasks", )',
    ): _TASK_LOOKUP,
    (
        "hardened.deadline._stage.xǁDeadlineStageǁ__init__",
        "- self._expiry = ExpiryQueue(config.default_timeout)",
        "+ self._expiry = ExpiryQueue(None)",
    ): "equivalent: the queue's `timeout` is informational; each entry carries its own expiry",
    (
        "hardened.deadline._stage.xǁDeadlineStageǁ__init__",
        "- self._real_time = isinstance(clock, SystemClock)",
        "+ self._real_time = None",
    ): _SYSTEM_CLOCK,
    (
        "hardened.deadline._stage.xǁDeadlineStageǁ__init__",
        "- inbound = CALLER_BUDGET_HEADERS if config.accept_inbound else ()",
        "+ inbound = CALLER_BUDGET_HEADERS if (config.accept_inbound) or True else ()",
    ): (
        "equivalent: the header scan then also collects the caller's budget headers, which "
        "`enter` reads only when they are accepted"
    ),
    (
        "hardened.deadline._stage.xǁDeadlineStageǁ_first_task",
        "- self._task_of = task_lookup(loop)",
        "+ self._task_of = task_lookup(None)",
    ): _TASK_LOOKUP,
    (
        "hardened.deadline._stage.xǁDeadlineStageǁ_route_timeouts",
        "- self._timeouts = found if found else False",
        "+ self._timeouts = found if (found) or True else False",
    ): _PERF,
    (
        "hardened.deadline._stage.xǁDeadlineStageǁenter",
        "- overrides = self._timeouts",
        "+ overrides = None",
    ): _PERF,
    (
        "hardened.deadline._stage.xǁDeadlineStageǁenter",
        "- task = self._task_of(loop)",
        "+ task = self._task_of(None)",
    ): (
        "equivalent: asked for no loop, the first lookup finds no entry in the task table and "
        "picks `asyncio.current_task`, which finds the running task without being given a loop"
    ),
    (
        "hardened.deadline._stage.xǁDeadlineStageǁenter",
        "- state.expires = (now if self._real_time else time.monotonic()) + timeout",
        ("+ state.expires = (now if (self._real_time) and False else time.monotonic()) + timeout"),
    ): _SYSTEM_CLOCK,
    (
        "hardened.deadline._stage.xǁDeadlineStageǁexit",
        "- state.handle = None  # the timer refers back to the state: break the cycle",
        '+ state.handle = ""  # the timer refers back to the state: break the cycle',
    ): ("equivalent: clearing the handle only breaks a reference cycle for the garbage collector"),
    # idempotency/_context.py
    (
        "hardened.idempotency._context.x_stored_response",
        '- name = raw_name.decode("latin-1").lower()',
        '+ name = raw_name.decode("LATIN-1").lower()',
    ): _CODEC,
    (
        "hardened.idempotency._context.x_stored_response",
        '- headers.append((name, value.decode("latin-1")))',
        '+ headers.append((name, value.decode("LATIN-1")))',
    ): _CODEC,
    # idempotency/_fingerprint.py
    (
        "hardened.idempotency._fingerprint.x__is_json",
        '- kind = content_type.split(b";", 1)[0].strip().lower()',
        '+ kind = content_type.split(b";", )[0].strip().lower()',
    ): ("equivalent: only the part before the first `;` is read, however often the rest is split"),
    (
        "hardened.idempotency._fingerprint.x__is_json",
        '- kind = content_type.split(b";", 1)[0].strip().lower()',
        '+ kind = content_type.split(b";", 2)[0].strip().lower()',
    ): ("equivalent: only the part before the first `;` is read, however often the rest is split"),
    (
        "hardened.idempotency._fingerprint.x__parts",
        '- return b"".join([len(part).to_bytes(8, "big") + part for part in parts])',
        '+ return b"".join([len(part).to_bytes(8, ) + part for part in parts])',
    ): "equivalent: big-endian is the default byte order of `int.to_bytes` (Python 3.11+)",
    (
        "hardened.idempotency._fingerprint.x_fingerprint",
        '- pairs = sorted(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))',
        '+ pairs = sorted(parse_qsl(query_string.decode("LATIN-1"), keep_blank_values=True))',
    ): _CODEC,
    # idempotency/_key.py
    (
        "hardened.idempotency._key.x_read_key",
        '- key = found.decode("ascii")',
        '+ key = found.decode("ASCII")',
    ): _CODEC,
    # idempotency/_layer.py
    (
        "hardened.idempotency._layer.x__read_body",
        '- if not message.get("more_body", False):',
        '+ if not message.get("more_body", None):',
    ): _NO_MORE_BODY,
    (
        "hardened.idempotency._layer.x__read_body",
        '- if not message.get("more_body", False):',
        '+ if not message.get("more_body", ):',
    ): _NO_MORE_BODY,
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁ_admit",
        '- query_string=scope.get("query_string", b""),',
        '+ query_string=scope.get("query_string", None),',
    ): _NO_QUERY,
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁ_admit",
        '- query_string=scope.get("query_string", b""),',
        '+ query_string=scope.get("query_string", ),',
    ): _NO_QUERY,
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁ_admit",
        '- content_type = next((v for n, v in scope["headers"] if n == b"content-type"), b"")',
        (
            '+ content_type = next((v for n, v in scope["headers"] if n == b"content-type"), '
            'b"XXXX")'
        ),
    ): (
        "equivalent: without a Content-Type the body is hashed as sent; any default that is "
        "not a JSON media type does the same"
    ),
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁ_execute",
        "- released = False",
        "+ released = None",
    ): _NOT_NONE,
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁ_execute",
        "- sent = False",
        "+ sent = None",
    ): _NOT_NONE,
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁ_execute",
        '- return {"type": "http.request", "body": body, "more_body": False}',
        '+ return {"type": "http.request", "body": body, "XXmore_bodyXX": False}',
    ): "equivalent: a request message without `more_body` is the last one (ASGI's default)",
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁ_execute",
        '- return {"type": "http.request", "body": body, "more_body": False}',
        '+ return {"type": "http.request", "body": body, "MORE_BODY": False}',
    ): "equivalent: a request message without `more_body` is the last one (ASGI's default)",
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁ_route",
        '- root: str = scope.get("root_path", "")',
        '+ root: str = scope.get("root_path", "XXXX")',
    ): (
        "equivalent: an ASGI path starts with `/`, never with the default 'XXXX': nothing is "
        "stripped"
    ),
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁ_route",
        '- root: str = scope.get("root_path", "")',
        '+ root: str = scope.get("root_path", None)',
    ): (
        "equivalent: a scope without `root_path` then gives None, which strips nothing, as '' does"
    ),
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁ_route",
        '- root: str = scope.get("root_path", "")',
        '+ root: str = scope.get("root_path", )',
    ): (
        "equivalent: a scope without `root_path` then gives None, which strips nothing, as '' does"
    ),
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁwrap",
        "- await send_error(scope, receive, send, error)",
        "+ await send_error(None, receive, send, error)",
    ): "equivalent: `send_error` uses neither the scope nor `receive`",
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁwrap",
        "- await send_error(scope, receive, send, error)",
        "+ await send_error(scope, None, send, error)",
    ): "equivalent: `send_error` uses neither the scope nor `receive`",
    (
        "hardened.idempotency._layer.xǁIdempotencyLayerǁwrap",
        "- await held[0].__aexit__(type(exc), exc, exc.__traceback__)",
        "+ await held[0].__aexit__(type(exc), exc, None)",
    ): (
        "equivalent: the connection's context manager is still handed the exception object "
        "itself, which keeps its own traceback, and the layer re-raises that same object"
    ),
    # idempotency/_respond.py
    (
        "hardened.idempotency._respond.x_replay",
        '- headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]',
        '+ headers = [(n.encode("LATIN-1"), v.encode("latin-1")) for n, v in response.headers]',
    ): _CODEC,
    (
        "hardened.idempotency._respond.x_replay",
        '- headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]',
        '+ headers = [(n.encode("latin-1"), v.encode("LATIN-1")) for n, v in response.headers]',
    ): _CODEC,
    (
        "hardened.idempotency._respond.xǁCaptureǁ__call__",
        '- more = bool(message.get("more_body", False))',
        '+ more = bool(message.get("more_body", None))',
    ): _NO_MORE_BODY,
    (
        "hardened.idempotency._respond.xǁCaptureǁ__call__",
        '- more = bool(message.get("more_body", False))',
        '+ more = bool(message.get("more_body", ))',
    ): _NO_MORE_BODY,
    # idempotency/_store_memory.py
    (
        "hardened.idempotency._store_memory.xǁMemoryIdempotencyStoreǁ__init__",
        "- self._ids = itertools.count(1)",
        "+ self._ids = itertools.count(2)",
    ): _UNIQUE,
    (
        "hardened.idempotency._store_memory.xǁMemoryIdempotencyStoreǁ__init__",
        "- self._tokens = itertools.count(1)",
        "+ self._tokens = itertools.count(2)",
    ): _UNIQUE,
    (
        "hardened.idempotency._store_memory.xǁMemoryIdempotencyStoreǁclaim",
        "- row = _Row(next(self._ids), request.fingerprint, None, 0.0, now + retention, now)",
        "+ row = _Row(next(self._ids), request.fingerprint, None, None, now + retention, now)",
    ): ("equivalent: a new row's lease expiry is set a few lines below, before anything reads it"),
    (
        "hardened.idempotency._store_memory.xǁMemoryIdempotencyStoreǁclaim",
        "- row = _Row(next(self._ids), request.fingerprint, None, 0.0, now + retention, now)",
        "+ row = _Row(next(self._ids), request.fingerprint, None, 1.0, now + retention, now)",
    ): ("equivalent: a new row's lease expiry is set a few lines below, before anything reads it"),
    # retry/_budget.py
    (
        "hardened.retry._budget.xǁRetryBudgetǁ__init__",
        "- self._stamps = [-1] * self._size",
        "+ self._stamps = [+1] * self._size",
    ): _STAMP,
    (
        "hardened.retry._budget.xǁRetryBudgetǁ__init__",
        "- self._stamps = [-1] * self._size",
        "+ self._stamps = [-2] * self._size",
    ): _STAMP,
    (
        "hardened.retry._budget.xǁRetryBudgetǁ__init__",
        "- self._head = -1",
        "+ self._head = -2",
    ): _HEAD_BEFORE_ZERO,
    (
        "hardened.retry._budget.xǁRetryBudgetǁ__init__",
        "- self._floor_second = -1",
        "+ self._floor_second = None",
    ): _FLOOR_SECOND,
    (
        "hardened.retry._budget.xǁRetryBudgetǁ__init__",
        "- self._floor_second = -1",
        "+ self._floor_second = +1",
    ): _FLOOR_SECOND,
    (
        "hardened.retry._budget.xǁRetryBudgetǁ__init__",
        "- self._floor_second = -1",
        "+ self._floor_second = -2",
    ): _FLOOR_SECOND,
    (
        "hardened.retry._budget.xǁRetryBudgetǁ__init__",
        "- self._floor_used = 0",
        "+ self._floor_used = None",
    ): _FLOOR_SECOND,
    (
        "hardened.retry._budget.xǁRetryBudgetǁ__init__",
        "- self._floor_used = 0",
        "+ self._floor_used = 1",
    ): _FLOOR_SECOND,
    (
        "hardened.retry._budget.xǁRetryBudgetǁ_roll",
        "- for passed in range(max(head + 1, second - self._size + 1), second + 1):",
        "+ for passed in range(max(head + 1, second - self._size - 1), second + 1):",
    ): _LONG_GAP,
    (
        "hardened.retry._budget.xǁRetryBudgetǁ_roll",
        "- if second > head:",
        "+ if second >= head:",
    ): "equivalent: in the head's own second the loop has nothing to clear, the head stays",
    # retry/_policy.py
    (
        "hardened.retry._policy.xǁRetryPolicyǁretry",
        "- replayed = False",
        "+ replayed = None",
    ): _NOT_NONE,
    (
        "hardened.retry._policy.xǁRetryPolicyǁretry",
        "- error = state.outcome.exception() if state.outcome else None",
        "+ error = state.outcome.exception() if (state.outcome) or True else None",
    ): "equivalent: tenacity calls `wait` only after an attempt, when its outcome is set",
    # shed/_signals.py
    (
        "hardened.shed._signals.xǁGradient2ǁon_sample",
        "- if long / short > 2:  # recover quickly from a long-gone slow period",
        "+ if long / short >= 2:  # recover quickly from a long-gone slow period",
    ): _EQUAL_FLOATS,
    (
        "hardened.shed._signals.xǁQueueDelayMonitorǁ__init__",
        "- self._quiet_since: float | None = None",
        '+ self._quiet_since: float | None = ""',
    ): _FIRST_TICK,
    (
        "hardened.shed._signals.xǁQueueDelayMonitorǁ__init__",
        "- self._seen = -1",
        "+ self._seen = None",
    ): _FIRST_TICK,
    (
        "hardened.shed._signals.xǁQueueDelayMonitorǁ__init__",
        "- self._seen = -1",
        "+ self._seen = -2",
    ): _FIRST_TICK,
    (
        "hardened.shed._signals.xǁQueueDelayMonitorǁ__init__",
        "- self._window = 0",
        "+ self._window = 1",
    ): "equivalent: the first tick's window rotation only moves the initial zeros",
    (
        "hardened.shed._signals.xǁQueueDelayMonitorǁ_idle",
        (
            "- return now - self._quiet_since >= self._idle_after - 1e-9  # float ticks: 0.03 != "
            "0.0299…"
        ),
        (
            "+ return now - self._quiet_since > self._idle_after - 1e-9  # float ticks: 0.03 != "
            "0.0299…"
        ),
    ): _EQUAL_FLOATS,
    (
        "hardened.shed._signals.xǁQueueDelayMonitorǁ_idle",
        (
            "- if seen != self._seen or inflight or lag > self.codel.target or "
            "self.codel.overloaded:"
        ),
        (
            "+ if seen != self._seen or inflight or lag >= self.codel.target or "
            "self.codel.overloaded:"
        ),
    ): _EQUAL_FLOATS,
    (
        "hardened.shed._signals.xǁQueueDelayMonitorǁ_on_beat",
        "- window = int(now // 5)",
        "+ window = int(now / 5)",
    ): "equivalent: int(now / 5) == int(now // 5) for the positive loop times",
    (
        "hardened.shed._signals.xǁQueueDelayMonitorǁcurrent",
        "- if late <= self.last or self.heartbeat.loop is None:",
        "+ if late < self.last or self.heartbeat.loop is None:",
    ): "equivalent: when `late` equals `last` both branches return the same value",
    # shed/_stage.py
    (
        "hardened.shed._stage.xǁShedderǁ__init__",
        "- *([secret] if secret is not None and wanted else []),",
        "+ *([secret] if secret is not None or wanted else []),",
    ): (
        "equivalent: the header scan then also asks for the secret header without a priority "
        "header, which nothing reads, or for None, which no header is named"
    ),
    (
        "hardened.shed._stage.xǁShedderǁ_activity",
        "- return self.admitted + self.rejected_total, self.inflight",
        "+ return self.admitted - self.rejected_total, self.inflight",
    ): (
        "equivalent for the heartbeat's use: any new request or refusal still changes the "
        "value, except when finished requests and refusals grow by the same number between "
        "two 10 ms ticks, which only delays an idle pause by a tick"
    ),
    (
        "hardened.shed._stage.xǁShedderǁ_answer",
        '- retry_after = self._random.randint(low, high) if reason != "deadline" else 0',
        '+ retry_after = self._random.randint(low, high) if reason != "XXdeadlineXX" else 0',
    ): _DEADLINE_RETRY_AFTER,
    (
        "hardened.shed._stage.xǁShedderǁ_answer",
        '- retry_after = self._random.randint(low, high) if reason != "deadline" else 0',
        '+ retry_after = self._random.randint(low, high) if reason != "DEADLINE" else 0',
    ): _DEADLINE_RETRY_AFTER,
    (
        "hardened.shed._stage.xǁShedderǁ_answer",
        '- retry_after = self._random.randint(low, high) if reason != "deadline" else 0',
        '+ retry_after = self._random.randint(low, high) if reason != "deadline" else 1',
    ): _DEADLINE_RETRY_AFTER,
    (
        "hardened.shed._stage.xǁShedderǁ_answer",
        '- retry_after = self._random.randint(low, high) if reason != "deadline" else 0',
        (
            '+ retry_after = self._random.randint(low, high) if (reason != "deadline") or True '
            "else 0"
        ),
    ): _DEADLINE_RETRY_AFTER,
    (
        "hardened.shed._stage.xǁShedderǁcalm",
        "- and codel.above_since is None",
        "+ and codel.above_since is not None",
    ): (
        "equivalent: in every state the other conditions of the fast path allow, the delay "
        "is at most the target, so `decide()` admits every priority whether or not a delay "
        "episode has begun"
    ),
    (
        "hardened.shed._stage.xǁShedderǁcalm",
        "- and now - monitor.due <= monitor.last <= self.config.queue_delay_target",
        "+ and now - monitor.due < monitor.last <= self.config.queue_delay_target",
    ): _STRICTER_CALM,
    (
        "hardened.shed._stage.xǁShedderǁcalm",
        "- and now - monitor.due <= monitor.last <= self.config.queue_delay_target",
        "+ and now - monitor.due <= monitor.last < self.config.queue_delay_target",
    ): _STRICTER_CALM,
    (
        "hardened.shed._stage.xǁShedderǁcheck",
        "- waited <= target",
        "+ waited < target",
    ): _STRICTER_CALM,
    (
        "hardened.shed._stage.xǁShedderǁcheck",
        "- and now - heartbeat.due <= monitor.last <= target",
        "+ and now - heartbeat.due < monitor.last <= target",
    ): _STRICTER_CALM,
    (
        "hardened.shed._stage.xǁShedderǁenter",
        "- (arrived is None or now - arrived <= target)",
        "+ (arrived is None or now - arrived < target)",
    ): _STRICTER_INLINE,
    (
        "hardened.shed._stage.xǁShedderǁenter",
        "- and now - heartbeat.due <= self.monitor.last <= target",
        "+ and now - heartbeat.due < self.monitor.last <= target",
    ): _STRICTER_INLINE,
    (
        "hardened.shed._stage.xǁShedderǁclaims",
        '- scope.get("client"), headers.get(self.trust.secret_header or b"")',
        '+ scope.get("client"), headers.get(self.trust.secret_header or b"XXXX")',
    ): (
        "equivalent: with no secret header configured the lookup finds nothing either way: "
        "the header scan collects no header named '' or 'XXXX'"
    ),
    (
        "hardened.shed._stage.xǁShedderǁpriority_of",
        '- priority = _PRIORITIES.get(header.decode("latin-1").strip().lower(), priority)',
        '+ priority = _PRIORITIES.get(header.decode("LATIN-1").strip().lower(), priority)',
    ): _CODEC,
    (
        "hardened.shed._stage.xǁShedderǁpriority_of",
        "- priority = config.priority_for(path) if config.route_priorities else None",
        "+ priority = config.priority_for(path) if (config.route_priorities) or True else None",
    ): "equivalent: with no route table `priority_for` returns the default priority anyway",
    # shed/_early.py
    (
        "hardened.shed._early.xǁEarlyRefusalǁ__call__",
        "- if (arrived is None or now - arrived <= self._target) and self._calm(now):",
        "+ if (arrived is None or now - arrived < self._target) and self._calm(now):",
    ): _EQUAL_FLOATS,
}
