"""Example results: a labelled set of runs made with the project's own experiments, so a demo never waits.

:func:`make_demo` runs each experiment of :data:`DEMO_SET` with a small preset
(``tiny``: about a minute in all on two cores; ``quick``: the README's
figures, several minutes) into the run store, named with :data:`EXAMPLE_PREFIX`
so every page can tell example runs from the user's own. ``make demo`` and the
Home page's button both use it (the button through the job queue).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from kgml_core.progress import ProgressCallback
from kgml_core.runs import Run, RunStore

EXAMPLE_PREFIX = "Example: "
PRESETS = ("tiny", "quick")


@dataclass(frozen=True)
class DemoRun:
    """One run of the example set: experiment kind, settings and its label."""

    kind: str
    overrides: dict[str, Any]
    label: str

    def name(self, preset: str) -> str:
        return f"{EXAMPLE_PREFIX}{self.label} ({preset})"


DEMO_SET: tuple[DemoRun, ...] = (
    DemoRun("state_vs_global", {"states": ("IL", "IA", "IN")},
            "state-specific against global models, Illinois, Iowa, Indiana"),
    DemoRun("tamrl", {}, "TAM-RL from flux towers to counties"),
)


def demo_jobs(preset: str = "tiny") -> list[tuple[str, str, dict[str, Any], str]]:
    """(kind, preset, overrides, name) of every example run, for a job queue."""
    if preset not in PRESETS:
        raise ValueError(f"demo preset must be one of {PRESETS}, got {preset!r}")
    return [(d.kind, preset, dict(d.overrides), d.name(preset)) for d in DEMO_SET]


def make_demo(preset: str = "tiny", store: RunStore | None = None,
              progress: ProgressCallback | None = None) -> list[Run]:
    """Run the example set into ``store`` (default: the configured run store); returns the runs."""
    from kgml_core.experiments import get

    store = store or RunStore()
    runs = []
    for kind, preset_name, overrides, name in demo_jobs(preset):
        experiment = get(kind)
        config = experiment.config(preset_name).with_settings(overrides)
        runs.append(experiment.execute(config, store, progress=progress, name=name))
    return runs


def example_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The finished example runs of a run index table (``RunStore.list()``), newest first."""
    if runs.empty or "name" not in runs:
        return runs.iloc[:0]
    mask = runs["name"].astype(str).str.startswith(EXAMPLE_PREFIX) & (runs["status"] == "finished")
    out = runs[mask]
    return out.sort_values("created", ascending=False) if "created" in out else out
