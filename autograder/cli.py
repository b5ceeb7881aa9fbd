"""Command line: ``python -m autograder <command>``. Parses arguments only.

Each command calls the keyword-only ``main`` of its own module, so the
defaults live there, next to the code that uses them.
"""
from __future__ import annotations

import argparse
import importlib
import sys


def _data(args):
    from autograder import data

    try:
        path = data.install() if args.install else data.locate()
    except data.DataNotFoundError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"timemachine.txt verified: {path}")
    return 0


def _call(module, **kwargs):
    """Run ``autograder.<module>.main(**kwargs)`` and return its exit code."""
    mod = importlib.import_module(f"autograder.{module}")
    return mod.main(**kwargs) or 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="find and verify timemachine.txt")
    d.add_argument(
        "--install", action="store_true",
        help="copy it into d2l's cache (../data) for this directory",
    )
    d.set_defaults(run=_data)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command."""
    parser = _parser()
    args = parser.parse_args(argv)
    return args.run(args)
