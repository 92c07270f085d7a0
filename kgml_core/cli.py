"""Command-line interface: ``python -m kgml_core COMMAND ...``.

Each command lives in its own module under :mod:`kgml_core.commands` exposing
``register(subparsers)``, which adds a sub-parser whose ``func`` default takes the
parsed arguments and returns an exit code. Adding a command is one module and
one line in :data:`COMMANDS`.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from kgml_core import __version__

COMMANDS = [
    "kgml_core.commands.info",
    "kgml_core.commands.experiment",
    "kgml_core.commands.simulate",
    "kgml_core.commands.ingest",
    "kgml_core.commands.bench",
    "kgml_core.commands.shift",
    "kgml_core.commands.demo",
]

log = logging.getLogger("kgml_core")


class UserError(Exception):
    """An error caused by the user's input; printed as one line, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kgml_core",
        description="Knowledge-guided machine learning of land carbon fluxes "
                    "(KGML-ag, SDSA-KGML, TAM-RL) over US counties and flux sites.")
    parser.add_argument("--version", action="version", version=f"kgml_core {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 runtime error, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError, FileNotFoundError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        log.debug("details", exc_info=True)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
