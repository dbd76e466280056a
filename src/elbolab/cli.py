"""The ``elbolab`` command line: ``elbolab lab [--quick] [--out DIR] [--device DEV]``."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .device import DEVICE_CHOICES


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="elbolab", description="The ELBO from first principles, executable."
    )
    parser.add_argument("--version", action="version", version=f"elbolab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser(
        "lab",
        help="execute the lab notebook; write the .ipynb, report.html, figures/, metrics.json",
    )
    lab.add_argument("--quick", action="store_true",
                     help="small sample sizes and short runs (CI); full mode otherwise")
    lab.add_argument("--out", default="lab-output", help="output folder (default: lab-output)")
    lab.add_argument("--device", default="auto",
                     help=f"torch device: one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    lab.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    lab.add_argument("--data-dir", default=None,
                     help="data folder (default: $ELBOLAB_DATA_DIR or the user cache)")
    lab.add_argument("--cell-timeout", type=int, default=1800,
                     help="seconds one notebook cell may run (default: 1800)")
    lab.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _cmd_lab(args: argparse.Namespace) -> int:
    from .device import resolve_device
    from .lab import run_lab
    from .validation import format_table

    try:
        resolve_device(args.device)
    except ValueError as exc:
        print(f"elbolab lab: {exc}", file=sys.stderr)
        return 2
    result = run_lab(args.out, quick=args.quick, device=args.device, seed=args.seed,
                     data_dir=args.data_dir, cell_timeout=args.cell_timeout,
                     progress=not args.no_progress)
    print()
    if result.validations:
        print(format_table(result.validations))
    mode = "quick" if args.quick else "full"
    print(f"\nlab ({mode}) finished in {result.seconds:.1f} s")
    for label, path in (("notebook", result.notebook), ("report", result.report),
                        ("metrics", result.metrics), ("figures", result.out_dir / "figures")):
        print(f"  {label:<9}{path}")
    if result.error:
        print(f"\nelbolab lab: a notebook cell failed:\n{result.error}", file=sys.stderr)
        return 1
    if not result.ok:
        n_fail = sum(not v["passed"] for v in result.validations)
        print(f"\nelbolab lab: {n_fail} validation(s) failed", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "lab":
        return _cmd_lab(args)
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
