"""`python -m bench`: run every benchmark, print the table, write bench/results.json.

python -m bench                      # the full run (about 7 minutes on 2 cores)
python -m bench --only ingest,storm  # some of them
python -m bench --smoke              # the tiny configuration the smoke test runs
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bench import report
from bench.config import FULL, SMOKE, with_overrides
from bench.runner import BENCHMARKS, run_all

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the code paths, not the speed")
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results file (default: bench/results.json; with --smoke: none unless given)",
    )
    p.add_argument("--loadgen", choices=["auto", "wrk", "aiohttp"], help="ingest load generator")
    p.add_argument("--duration", type=float, help="seconds per ingest run")
    p.add_argument("--no-uvloop", action="store_true", help="skip the uvloop ingest variants")
    p.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, journals) and say where"
    )
    args = p.parse_args(argv)
    config = SMOKE if args.smoke else FULL
    if args.loadgen:
        config = with_overrides(config, loadgen=args.loadgen)
    if args.duration:
        config = with_overrides(config, ingest_duration_s=args.duration)
    if args.no_uvloop:
        config = with_overrides(config, ingest_uvloop=False)
    output = args.output if args.output is not None else (None if args.smoke else DEFAULT_OUTPUT)
    only = [n.strip() for n in args.only.split(",")] if args.only else None
    results = asyncio.run(run_all(config, only=only, output=output, keep=args.keep))
    if args.keep:
        print(f"work directory kept: {results['workdir']}")
    print()
    print(report.render(results))
    if output is not None:
        print(f"\nresults written to {output}")
    failed = [k for k, v in results.items() if isinstance(v, dict) and "error" in v]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
