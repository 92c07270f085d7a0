"""``experiment NAME``: run any registered experiment and write DIR/metrics.json.

One generic command for every experiment in :data:`kgml_core.experiments.EXPERIMENTS`::

    experiment NAME --out DIR [--preset P] [--set KEY=VALUE ...] [--resume RUN_ID] [--store DIR]

``--set`` reaches every setting of the experiment's configuration (dotted
keys into nested ones: ``--set protocol.step1.epochs=3``; lists are
comma-separated: ``--set states=IL,IA``). Each experiment also declares a few
shortcuts (``--states IL IA``, ``--seed 3``, ``--no-real``...).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kgml_core.progress import ProgressCallback, ProgressEvent


def register(sub) -> None:
    from kgml_core.experiments import EXPERIMENTS

    p = sub.add_parser("experiment", help="run a registered experiment and write DIR/metrics.json")
    exp_sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    for experiment in EXPERIMENTS.values():
        _add_experiment(exp_sub, experiment)
    p.set_defaults(func=lambda args: p.print_help() or 0)


def _add_experiment(sub, experiment) -> None:
    names = [experiment.cli_name] + ([experiment.kind] if experiment.kind != experiment.cli_name else [])
    p = sub.add_parser(names[0], aliases=names[1:], help=experiment.title, description=experiment.help)
    p.add_argument("--out", type=Path, required=True, help="directory for metrics.json and predictions.nc")
    p.add_argument("--preset", default="quick", choices=experiment.config_class.preset_names(),
                   help="size of the experiment")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="any setting of the configuration (repeatable; lists comma-separated)")
    p.add_argument("--resume", default=None, metavar="RUN_ID",
                   help="finish an interrupted run (its saved configuration; only threads/device may change)"
                   if experiment.resumable else argparse.SUPPRESS)
    p.add_argument("--store", type=Path, default=None, help="run store directory (default: settings.runs_dir())")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    for option in experiment.options:
        if option.const is not None:
            p.add_argument(option.flag, dest=f"opt_{option.key}", action="store_const", const=option.const,
                           default=None, help=option.help)
        else:
            p.add_argument(option.flag, dest=f"opt_{option.key}", nargs="+", default=None, help=option.help,
                           choices=option.choices or None, metavar=option.key.upper())
    p.set_defaults(func=lambda args: run(args, experiment))


def settings_from(args: argparse.Namespace, experiment, base) -> dict:
    """Typed settings from ``--set`` and the experiment's shortcuts (shortcuts win)."""
    out = {}
    for item in args.settings:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = base.parse_setting(key.strip(), text)
    for option in experiment.options:
        value = getattr(args, f"opt_{option.key}", None)
        if value is None:
            continue
        out[option.key] = value if option.const is not None else \
            base.parse_setting(option.key, ",".join(str(v) for v in value))
    return out


def run(args: argparse.Namespace, experiment) -> int:
    """Build the configuration, run the experiment, write DIR/metrics.json and DIR/predictions.nc."""
    from kgml_core.runs import RunStore, write_json_atomic

    store = RunStore(args.store) if args.store else RunStore()
    if args.resume:
        run_ = store.get(args.resume)
        saved = experiment.config_class.from_dict(run_.config)
        config = experiment.resume_config(run_, **settings_from(args, experiment, saved))
    else:
        base = experiment.config(args.preset)
        config = base.with_settings(settings_from(args, experiment, base))
    result = experiment.execute(config, store, progress=None if args.quiet else cli_progress(),
                                resume=args.resume)
    args.out.mkdir(parents=True, exist_ok=True)
    metrics = result.metrics()
    write_json_atomic(args.out / "metrics.json", metrics)
    if result.has_dataset("predictions"):
        result.predictions().to_netcdf(args.out / "predictions.nc")
    if metrics:
        print(experiment.summary(metrics))
    print(f"run {result.id} ({result.status}) in {metrics.get('seconds', 0):.1f} s; "
          f"wrote {args.out / 'metrics.json'}")
    return 0 if result.status == "finished" else 1


def cli_progress() -> ProgressCallback:
    """Progress lines on stderr: messages, and one line per epoch end."""
    def show(event: ProgressEvent) -> None:
        if event.message:
            print(f"[{event.stage}] {event.message}", file=sys.stderr, flush=True)
        elif event.step == event.n_steps or event.n_steps == 0:
            loss = " ".join(f"{k}={v:.3f}" for k, v in event.losses.items())
            print(f"\r{event.stage:<22} epoch {event.epoch}/{event.n_epochs} {loss}"[:110].ljust(110),
                  end="\n" if event.epoch == event.n_epochs else "", file=sys.stderr, flush=True)
    return show
