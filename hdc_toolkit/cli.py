"""The ``hdc`` command line: parse arguments, call the library, map user errors to exit codes.

Each sub-command group lives in ``hdc_toolkit/commands/<group>.py`` and exposes
``register(subparsers)``; groups are discovered here, so adding one needs no edit to this file.
Command modules import heavy packages (pyarrow, GX, SDV, torch) inside their handlers only, which
keeps ``hdc --help`` fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Mapping, Sequence

from hdc_toolkit import __version__
from hdc_toolkit.exceptions import HdcUserError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hdc",
        description="hdc-toolkit: data contracts, permits, sandbox, synthetic twins, DP and output checking "
        "for a health data centre.",
    )
    parser.add_argument("--version", action="version", version=f"hdc-toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    import hdc_toolkit.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"hdc_toolkit.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used by the console script)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.environ = dict(os.environ if environ is None else environ)
    try:
        code = args.handler(args)
    except HdcUserError as exc:
        print(f"hdc: error: {exc}", file=sys.stderr)
        problems = getattr(exc, "problems", None) or []
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hdc: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def _entry() -> None:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
