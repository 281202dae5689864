"""`python -m benchmarks` (= `make bench`): run the comparisons, write results/*.json and the table.

python -m benchmarks                 # the full suite (about 5 minutes; bounded at 15)
python -m benchmarks --quick         # a smoke run; results go to results/quick/, README untouched
python -m benchmarks --only overload --priority-header X-Priority
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._loadgen import find_tool, missing_tool_message
from benchmarks._registry import Context, Result
from benchmarks._report import (
    load_documents,
    machine_info,
    render_markdown,
    update_readme,
    write_result,
)
from benchmarks.suite import comparisons

HERE = Path(__file__).resolve().parent
SUITE_BUDGET_S = 20 * 60  # eight comparisons; each says its own budget


def _parser(names: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="one short round each (smoke run)")
    parser.add_argument("--only", action="append", choices=names, help="run only this comparison")
    parser.add_argument("--list", action="store_true", help="list the comparisons and exit")
    parser.add_argument(
        "--render", action="store_true", help="rebuild the README table from results/*.json only"
    )
    parser.add_argument("--tool", choices=["wrk", "hey"], help="closed-loop load tool to prefer")
    parser.add_argument("--out", type=Path, help="results folder (default: benchmarks/results)")
    parser.add_argument(
        "--priority-header",
        default="X-Priority",
        help="header carrying critical/sheddable in the overload run",
    )
    parser.add_argument(
        "--critical-share",
        type=float,
        default=0.2,
        help="fraction of overload requests marked critical (the rest sheddable)",
    )
    parser.add_argument(
        "--limit-concurrency",
        type=int,
        default=100,
        help="uvicorn --limit-concurrency of the overload comparison",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the Poisson arrivals")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (repository root) whose hardened stack the edge comparison "
        "measures beside this one, in the same interleaved rounds (before/after a change)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected comparisons; exit 1 if one crashed."""
    suite = comparisons()
    parser = _parser([c.name for c in suite])
    args = parser.parse_args(argv)
    if not 0.0 <= args.critical_share <= 1.0:
        parser.error("--critical-share must be within 0..1")
    if args.limit_concurrency < 1:
        parser.error("--limit-concurrency must be at least 1")
    if args.baseline is not None and not (args.baseline / "src" / "hardened").is_dir():
        parser.error("--baseline must be the root of a checkout of hardened (with src/hardened)")
    if args.list:
        for comparison in suite:
            print(f"{comparison.name:<16} {comparison.title} — target: {comparison.target}")
        return 0
    out_dir = args.out or (HERE / "results" / "quick" if args.quick else HERE / "results")
    tool = find_tool(args.tool)
    if tool is None:
        print(f"make bench: {missing_tool_message()}", file=sys.stderr)
    selected = [c for c in suite if not args.only or c.name in args.only] if not args.render else []
    given = list(argv) if argv is not None else sys.argv[1:]
    command = " ".join(["python -m benchmarks", *given])
    machine = machine_info()
    crashed = []
    with tempfile.TemporaryDirectory(prefix="hardened-bench-") as logs:
        ctx = Context(
            quick=args.quick,
            repo_root=HERE.parent,
            log_dir=Path(logs),
            out_dir=out_dir,
            load_tool=tool,
            priority_header=args.priority_header,
            critical_share=args.critical_share,
            limit_concurrency=args.limit_concurrency,
            seed=args.seed,
            baseline=args.baseline.resolve() if args.baseline else None,
            deadline=time.monotonic() + SUITE_BUDGET_S,
        )
        for comparison in selected:
            if ctx.time_left() < comparison.budget_seconds * (0.25 if args.quick else 1.0):
                print(f"-- {comparison.name}: skipped, the suite's 20-minute budget is spent")
                continue
            print(f"-- {comparison.name}: {comparison.title} ...", flush=True)
            started = time.monotonic()
            try:
                result: Result = comparison.run(ctx)
            except Exception as exc:  # one broken comparison must not hide the others
                print(f"   crashed: {type(exc).__name__}: {exc}", file=sys.stderr)
                crashed.append(comparison.name)
                continue
            result.seconds = time.monotonic() - started
            path = write_result(out_dir, result, machine, command)
            print(f"   {result.verdict}: {result.verdict_detail}\n   wrote {path}", flush=True)
    documents = load_documents(out_dir, [c.name for c in suite])
    generated = render_markdown(documents)
    if args.quick or args.out:
        print(generated)
    else:
        update_readme(HERE / "README.md", generated)
        print(f"-- table written to {HERE / 'README.md'}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
