"""``demo``: make the example results (a labelled set of runs) so a demo never waits on training."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("demo", help="make the example runs shown by the dashboard (tiny or quick presets)")
    p.add_argument("--preset", default="tiny", choices=("tiny", "quick"),
                   help="tiny: about a minute on two cores; quick: the README's figures (several minutes)")
    p.set_defaults(func=run)


def run(args) -> int:
    from kgml_core.commands.experiment import cli_progress
    from kgml_core.demo import make_demo

    runs = make_demo(args.preset, progress=cli_progress())
    for r in runs:
        print(f"{r.id} {r.status}: {r.name}")
    return 0 if all(r.status == "finished" for r in runs) else 1
