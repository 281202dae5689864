"""Write the mutation score of each mutated module to docs/mutation-scores.md (`make mutate`).

Reads what `mutmut run` left in `mutants/` (one `.meta` file per mutated source file, an exit
code per mutant), counts each module's mutants by outcome, and lists every survivor with its
one-line change and, when it is a known equivalent mutant, why no test can kill it
(`EQUIVALENT` below). A survivor without a reason is a missing test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
OUTPUT = ROOT / "docs" / "mutation-scores.md"
TARGET = 0.90

# mutmut's exit codes: 1 and 3 the tests failed, 0 they passed; the rest as mutmut reads them.
KILLED = {1, 3, 24, -24, 152, 255, 36, 37}  # a failure, a timeout or a type-check catch
SURVIVED = {0}

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
_NO_MORE_BODY = (
    "equivalent: an absent `more_body` reads as None, which is false like the default False"
)
_NOT_NONE = "equivalent: `not None` is true like `not False`"
_UNIQUE = (
    "equivalent: row ids and lease tokens are only compared for equality; any start gives "
    "distinct values"
)
_SAME_SECOND = "equivalent: when the second is the head's, both branches return the head's bucket"

# Survivors no test can tell from the original, by mutant name, with the reason.
EQUIVALENT: dict[str, str] = {
    # deadline/_expiry.py
    "hardened.deadline._expiry.xǁExpiryQueueǁ__init____mutmut_3": (
        "equivalent: any value other than the running loop makes the first `add` adopt the loop"
    ),
    "hardened.deadline._expiry.xǁExpiryQueueǁ_fire__mutmut_9": _EQUAL_FLOATS,
    # deadline/_stage.py
    "hardened.deadline._stage.x_task_lookup__mutmut_6": _TASK_LOOKUP,
    "hardened.deadline._stage.x_task_lookup__mutmut_10": _TASK_LOOKUP,
    "hardened.deadline._stage.xǁDeadlineStageǁ_find_tasks__mutmut_2": _TASK_LOOKUP,
    "hardened.deadline._stage.xǁDeadlineStageǁenter__mutmut_40": _TASK_LOOKUP,
    "hardened.deadline._stage.xǁDeadlineStageǁ__init____mutmut_13": _TASK_LOOKUP,
    "hardened.deadline._stage.xǁDeadlineStageǁ__init____mutmut_1": (
        "equivalent: the stage keeps its config for readers; its own path reads the values it "
        "copied at construction"
    ),
    "hardened.deadline._stage.xǁDeadlineStageǁ__init____mutmut_10": (
        "equivalent: the queue's `timeout` is informational; each entry carries its own expiry"
    ),
    "hardened.deadline._stage.xǁDeadlineStageǁ__init____mutmut_11": _SYSTEM_CLOCK,
    "hardened.deadline._stage.xǁDeadlineStageǁenter__mutmut_44": _SYSTEM_CLOCK,
    "hardened.deadline._stage.xǁDeadlineStageǁ_route_timeouts__mutmut_8": _PERF,
    "hardened.deadline._stage.xǁDeadlineStageǁenter__mutmut_4": _PERF,
    "hardened.deadline._stage.xǁDeadlineStageǁexit__mutmut_5": (
        "equivalent: clearing the handle only breaks a reference cycle for the garbage collector"
    ),
    # breaker/_breaker.py
    "hardened.breaker._breaker.xǁCircuitBreakerǁ__init____mutmut_12": _EPOCH,
    "hardened.breaker._breaker.xǁCircuitBreakerǁ_move__mutmut_4": _EPOCH,
    "hardened.breaker._breaker.xǁCircuitBreakerǁ_move__mutmut_5": _EPOCH,
    "hardened.breaker._breaker.xǁCircuitBreakerǁ__init____mutmut_13": (
        "equivalent: the open-until time is read only while open, and every trip sets it first"
    ),
    "hardened.breaker._breaker.xǁCircuitBreakerǁ__init____mutmut_14": (
        "equivalent: the open-until time is read only while open, and every trip sets it first"
    ),
    "hardened.breaker._breaker.xǁCircuitBreakerǁ__init____mutmut_15": _PERMITS,
    "hardened.breaker._breaker.xǁCircuitBreakerǁ__init____mutmut_16": _PERMITS,
    "hardened.breaker._breaker.xǁCircuitBreakerǁ_move__mutmut_8": _PERMITS,
    "hardened.breaker._breaker.xǁCircuitBreakerǁ_move__mutmut_10": _PERMITS,
    "hardened.breaker._breaker.xǁCircuitBreakerǁ__init____mutmut_17": _PROBE_SUCCESSES,
    "hardened.breaker._breaker.xǁCircuitBreakerǁ__init____mutmut_18": _PROBE_SUCCESSES,
    "hardened.breaker._breaker.xǁCircuitBreakerǁacquire__mutmut_22": (
        "equivalent: `retry_after()` then reads the clock itself one statement later; the wait "
        "differs by the nanoseconds between two clock reads, never on FakeClock"
    ),
    # breaker/_window.py
    "hardened.breaker._window.xǁRateWindowǁ__init____mutmut_13": _STAMP,
    "hardened.breaker._window.xǁRateWindowǁ__init____mutmut_14": _STAMP,
    "hardened.breaker._window.xǁRateWindowǁclear__mutmut_6": _STAMP,
    "hardened.breaker._window.xǁRateWindowǁclear__mutmut_7": _STAMP,
    "hardened.breaker._window.xǁRateWindowǁ__init____mutmut_17": _HEAD_BEFORE_ZERO,
    "hardened.breaker._window.xǁRateWindowǁclear__mutmut_10": _HEAD_BEFORE_ZERO,
    "hardened.breaker._window.xǁRateWindowǁroll__mutmut_5": _SAME_SECOND,
    "hardened.breaker._window.xǁRateWindowǁroll__mutmut_17": _LONG_GAP,
    # retry/_budget.py
    "hardened.retry._budget.xǁRetryBudgetǁ__init____mutmut_13": _STAMP,
    "hardened.retry._budget.xǁRetryBudgetǁ__init____mutmut_14": _STAMP,
    "hardened.retry._budget.xǁRetryBudgetǁ__init____mutmut_17": _HEAD_BEFORE_ZERO,
    "hardened.retry._budget.xǁRetryBudgetǁ__init____mutmut_18": _FLOOR_SECOND,
    "hardened.retry._budget.xǁRetryBudgetǁ__init____mutmut_19": _FLOOR_SECOND,
    "hardened.retry._budget.xǁRetryBudgetǁ__init____mutmut_20": _FLOOR_SECOND,
    "hardened.retry._budget.xǁRetryBudgetǁ__init____mutmut_21": _FLOOR_SECOND,
    "hardened.retry._budget.xǁRetryBudgetǁ__init____mutmut_22": _FLOOR_SECOND,
    "hardened.retry._budget.xǁRetryBudgetǁ_roll__mutmut_4": (
        "equivalent: in the head's own second the loop has nothing to clear, the head stays"
    ),
    "hardened.retry._budget.xǁRetryBudgetǁ_roll__mutmut_15": _LONG_GAP,
    # retry/_policy.py
    "hardened.retry._policy.xǁRetryPolicyǁretry__mutmut_2": _NOT_NONE,
    "hardened.retry._policy.xǁRetryPolicyǁretry__mutmut_9": (
        "equivalent: tenacity calls `wait` only after an attempt, when its outcome is set"
    ),
    # idempotency/_key.py, _fingerprint.py, _context.py
    "hardened.idempotency._key.x_read_key__mutmut_13": _CODEC,
    "hardened.idempotency._fingerprint.x_fingerprint__mutmut_9": _CODEC,
    "hardened.idempotency._fingerprint.x__is_json__mutmut_6": (
        "equivalent: only the part before the first `;` is read, however often the rest is split"
    ),
    "hardened.idempotency._fingerprint.x__is_json__mutmut_9": (
        "equivalent: only the part before the first `;` is read, however often the rest is split"
    ),
    "hardened.idempotency._fingerprint.x__parts__mutmut_7": (
        "equivalent: big-endian is the default byte order of `int.to_bytes` (Python 3.11+)"
    ),
    "hardened.idempotency._fingerprint.x_canonical_body__mutmut_11": (
        "equivalent: `json.dumps` reads `ensure_ascii=None` as false, like False"
    ),
    "hardened.idempotency._fingerprint.x_canonical_body__mutmut_12": (
        "equivalent: `json.dumps` reads `allow_nan=None` as false, like False"
    ),
    "hardened.idempotency._context.x_stored_response__mutmut_6": _CODEC,
    "hardened.idempotency._context.x_stored_response__mutmut_9": _CODEC,
    "hardened.idempotency._context.x_stored_response__mutmut_13": _CODEC,
    # idempotency/_store_memory.py
    "hardened.idempotency._store_memory.xǁMemoryIdempotencyStoreǁ__init____mutmut_5": _UNIQUE,
    "hardened.idempotency._store_memory.xǁMemoryIdempotencyStoreǁ__init____mutmut_8": _UNIQUE,
    "hardened.idempotency._store_memory.xǁMemoryIdempotencyStoreǁclaim__mutmut_13": (
        "equivalent: a new row's lease expiry is set a few lines below, before anything reads it"
    ),
    "hardened.idempotency._store_memory.xǁMemoryIdempotencyStoreǁclaim__mutmut_23": (
        "equivalent: a new row's lease expiry is set a few lines below, before anything reads it"
    ),
    # idempotency/_respond.py
    "hardened.idempotency._respond.x_replay__mutmut_4": _CODEC,
    "hardened.idempotency._respond.x_replay__mutmut_7": _CODEC,
    "hardened.idempotency._respond.xǁCaptureǁ__call____mutmut_33": _NO_MORE_BODY,
    "hardened.idempotency._respond.xǁCaptureǁ__call____mutmut_35": _NO_MORE_BODY,
    # idempotency/_layer.py
    "hardened.idempotency._layer.x__read_body__mutmut_26": _NO_MORE_BODY,
    "hardened.idempotency._layer.x__read_body__mutmut_28": _NO_MORE_BODY,
    "hardened.idempotency._layer.xǁIdempotencyLayerǁ_admit__mutmut_49": (
        "equivalent: without a Content-Type the body is hashed as sent; any default that is not "
        "a JSON media type does the same"
    ),
    "hardened.idempotency._layer.xǁIdempotencyLayerǁ_execute__mutmut_20": _NOT_NONE,
    "hardened.idempotency._layer.xǁIdempotencyLayerǁ_execute__mutmut_39": _NOT_NONE,
    "hardened.idempotency._layer.xǁIdempotencyLayerǁ_execute__mutmut_50": (
        "equivalent: a request message without `more_body` is the last one (ASGI's default)"
    ),
    "hardened.idempotency._layer.xǁIdempotencyLayerǁ_execute__mutmut_51": (
        "equivalent: a request message without `more_body` is the last one (ASGI's default)"
    ),
    "hardened.idempotency._layer.xǁIdempotencyLayerǁ_route__mutmut_6": (
        "equivalent: a scope without `root_path` then gives None, which strips nothing, as '' does"
    ),
    "hardened.idempotency._layer.xǁIdempotencyLayerǁ_route__mutmut_8": (
        "equivalent: a scope without `root_path` then gives None, which strips nothing, as '' does"
    ),
    "hardened.idempotency._layer.xǁIdempotencyLayerǁ_route__mutmut_11": (
        "equivalent: an ASGI path starts with `/`, never with the default 'XXXX': nothing is "
        "stripped"
    ),
    "hardened.idempotency._layer.xǁIdempotencyLayerǁwrap__mutmut_37": (
        "equivalent: `send_error` uses neither the scope nor `receive`"
    ),
    "hardened.idempotency._layer.xǁIdempotencyLayerǁwrap__mutmut_38": (
        "equivalent: `send_error` uses neither the scope nor `receive`"
    ),
    # shed/_signals.py
    "hardened.shed._signals.xǁGradient2ǁon_sample__mutmut_23": _EQUAL_FLOATS,
    "hardened.shed._signals.xǁQueueDelayMonitorǁ__init____mutmut_11": (
        "equivalent: with `idle_after` 0 the number of quiet ticks is ceil(0) = 0 either way"
    ),
    "hardened.shed._signals.xǁQueueDelayMonitorǁ__init____mutmut_14": _FIRST_TICK,
    "hardened.shed._signals.xǁQueueDelayMonitorǁ__init____mutmut_15": _FIRST_TICK,
    "hardened.shed._signals.xǁQueueDelayMonitorǁ__init____mutmut_16": _FIRST_TICK,
    "hardened.shed._signals.xǁQueueDelayMonitorǁ__init____mutmut_18": _FIRST_TICK,
    "hardened.shed._signals.xǁQueueDelayMonitorǁ__init____mutmut_25": (
        "equivalent: `ensure_running` sets `due` before anything reads it"
    ),
    "hardened.shed._signals.xǁQueueDelayMonitorǁ__init____mutmut_31": (
        "equivalent: the first tick's window rotation only moves the initial zeros"
    ),
    "hardened.shed._signals.xǁQueueDelayMonitorǁ_idle__mutmut_7": _EQUAL_FLOATS,
    "hardened.shed._signals.xǁQueueDelayMonitorǁ_tick__mutmut_14": (
        "equivalent: int(now / 5) == int(now // 5) for the positive loop times"
    ),
    "hardened.shed._signals.xǁQueueDelayMonitorǁcurrent__mutmut_4": (
        "equivalent: when `late` equals `last` both branches return the same value"
    ),
    # shed/_stage.py
    "hardened.shed._stage.xǁShedderǁ_activity__mutmut_1": (
        "equivalent for the heartbeat's use: any new request or refusal still changes the "
        "value, except when finished requests and refusals grow by the same number between two "
        "10 ms ticks, which only delays an idle pause by a tick"
    ),
    "hardened.shed._stage.xǁShedderǁ_answer__mutmut_4": _DEADLINE_RETRY_AFTER,
    "hardened.shed._stage.xǁShedderǁ_answer__mutmut_10": _DEADLINE_RETRY_AFTER,
    "hardened.shed._stage.xǁShedderǁ_answer__mutmut_11": _DEADLINE_RETRY_AFTER,
    "hardened.shed._stage.xǁShedderǁ_answer__mutmut_12": _DEADLINE_RETRY_AFTER,
    "hardened.shed._stage.xǁShedderǁ_calm__mutmut_6": (
        "equivalent: in every state the other conditions of the fast path allow, the delay is "
        "at most the target, so `decide()` admits every priority whether or not a delay episode "
        "has begun"
    ),
    "hardened.shed._stage.xǁShedderǁ_calm__mutmut_8": _STRICTER_CALM,
    "hardened.shed._stage.xǁShedderǁ_calm__mutmut_9": _STRICTER_CALM,
    "hardened.shed._stage.xǁShedderǁ_calm__mutmut_13": _STRICTER_CALM,
    "hardened.shed._stage.xǁShedderǁpriority_of__mutmut_4": (
        "equivalent: with no route table `priority_for` returns the default priority anyway"
    ),
    "hardened.shed._stage.xǁShedderǁpriority_of__mutmut_17": (
        "equivalent: 'LATIN-1' is another name of the same codec"
    ),
}


def _mutmut() -> Path:
    return Path(sys.executable).with_name("mutmut")


def _results() -> dict[str, dict[str, int | None]]:
    """Exit code per mutant, by module."""
    by_module: dict[str, dict[str, int | None]] = {}
    for meta in sorted(MUTANTS.glob("src/**/*.py.meta")):
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            module = name.split(".x", 1)[0] if ".x" in name else name.rsplit(".", 1)[0]
            by_module.setdefault(module, {})[name] = code
    return by_module


def _change(name: str) -> str:
    """The mutated line, as `- old` / `+ new`, from `mutmut show`."""
    shown = subprocess.run(
        [str(_mutmut()), "show", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    lines = [
        line
        for line in shown
        if line[:1] in "+-" and not line.startswith(("+++", "---")) and line[1:].strip()
    ]
    return " / ".join(f"`{line[0]} {line[1:].strip()}`" for line in lines[:2])


def render(by_module: dict[str, dict[str, int | None]]) -> tuple[str, bool]:
    """The scores document, and whether every module reached the target."""
    rows = [
        "| module | mutants | killed | survived | not run | score |",
        "|---|---|---|---|---|---|",
    ]
    survivors: list[tuple[str, str]] = []
    all_met = True
    for module, codes in sorted(by_module.items()):
        outcome = Counter(
            "killed" if c in KILLED else "survived" if c in SURVIVED else "other"
            for c in codes.values()
        )
        total = len(codes)
        score = outcome["killed"] / total if total else 1.0
        all_met &= score >= TARGET
        rows.append(
            f"| `{module}` | {total} | {outcome['killed']} | {outcome['survived']} | "
            f"{outcome['other']} | {score:.1%} |"
        )
        survivors += [(module, name) for name, code in codes.items() if code in SURVIVED]
    lines = [
        "# Mutation scores",
        "",
        "Written by `make mutate` (`tools/mutation_scores.py`); do not edit by hand. What is",
        "mutated and how to add a module: [mutation.md](mutation.md). Target: "
        f"{TARGET:.0%} killed in every module.",
        "",
        *rows,
        "",
        "## Survivors",
        "",
    ]
    if not survivors:
        lines.append("None.")
    for _, name in sorted(survivors):
        reason = EQUIVALENT.get(name, "**no reason: a test is missing**")
        lines.append(f"- `{name.rsplit('.', 1)[-1]}` ({_change(name)}): {reason}")
    return "\n".join(lines) + "\n", all_met


def main() -> int:
    """Write the document; exit 1 when a module is under the target."""
    if not MUTANTS.is_dir():
        print("no mutants/ folder: run `make mutate`", file=sys.stderr)
        return 2
    text, all_met = render(_results())
    OUTPUT.write_text(text)
    print(text)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
