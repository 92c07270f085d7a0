"""The base of every experiment: what the job queue, the CLI and the Train page know about one.

An experiment is a subclass of :class:`Experiment` registered in
:data:`kgml_core.experiments.EXPERIMENTS`. It declares its kind, title and
help texts, its configuration class (a dataclass deriving from
:class:`~kgml_core.config.ExperimentConfig`, with presets), whether it can
resume an interrupted run, the settings the Train page offers
(:class:`Setting`) and the command-line shortcuts (:class:`Option`); and it
implements :meth:`Experiment.run`, which computes into an open run and returns
the metrics. :meth:`Experiment.execute` owns the run's lifecycle: creating or
reopening it, threads and seeds, heartbeats, recording how it ended, timing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

from kgml_core.config import ExperimentConfig
from kgml_core.progress import CancelToken, ProgressCallback, ProgressEvent, cancel_scope
from kgml_core.runs import Run, RunStore


@dataclass(frozen=True)
class Setting:
    """A setting the Train page offers for an experiment.

    ``widget`` is one of "states" (the map's selection of states), "models"
    (pick among the config's default list, labelled by ``Experiment.labels``),
    "int", "slider" (float between ``low`` and ``high`` by ``step``),
    "floats" (pick among ``options``), "map_sites" (use the towers picked
    on the map, at least ``low`` of them), or "scheduler" (where independent
    parts run: auto, sequential, local, or the server's ``KGML_DASK_SCHEDULER``).
    """

    key: str
    label: str
    help: str
    widget: str
    options: tuple = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None


@dataclass(frozen=True)
class Option:
    """A command-line shortcut: ``--flag VALUE...`` sets ``key`` (``const``: a switch setting ``key=const``)."""

    flag: str
    key: str
    help: str
    const: Any = None
    choices: tuple = ()


SCHEDULER_SETTING = Setting(
    "scheduler", "Where to compute",
    "auto: the whole job and its parts go to the Dask cluster named by KGML_DASK_SCHEDULER; without one, the "
    "parts go to a local cluster when at least two cores are idle, else everything runs on this server; "
    "sequential: always this server. The results are the same either way.",
    "scheduler")
SCHEDULER_OPTION = Option("--scheduler", "scheduler",
                          "auto, sequential, local or a Dask scheduler address (default auto: $KGML_DASK_SCHEDULER, "
                          "else a local cluster when two cores are idle)")


class Experiment:
    """Base class of the experiments (see the module docstring).

    Class attributes: ``kind`` (registry key, saved with each run), ``title``
    (one line), ``short_title`` (a few words, for lists of runs), ``help`` (a
    sentence for the Train page and ``--help``), ``results_class`` (its
    :class:`Results` reader),
    ``cli_name`` (``experiment NAME``), ``config_class``, ``resumable``,
    ``labels`` (name -> help text of the models or parts it compares), ``data_source``,
    ``settings`` (:class:`Setting`), ``options`` (:class:`Option`).
    """

    kind: ClassVar[str]
    title: ClassVar[str]
    short_title: ClassVar[str] = ""
    help: ClassVar[str] = ""
    results_class: ClassVar[type[Results]]
    cli_name: ClassVar[str]
    config_class: ClassVar[type[ExperimentConfig]]
    resumable: ClassVar[bool] = False
    labels: ClassVar[dict[str, str]] = {}
    # what the experiment runs on: "simulated world" or "real data" (pages and exports label runs with it)
    data_source: ClassVar[str] = "simulated world"
    settings: ClassVar[tuple[Setting, ...]] = ()
    options: ClassVar[tuple[Option, ...]] = ()

    # -- what subclasses implement -------------------------------------------
    def run(self, config: Any, run: Run, progress: ProgressCallback | None,
            cancel: CancelToken | None) -> dict:
        """Compute into the open ``run`` (a new one, or a reopened one to resume) and return its metrics."""
        raise NotImplementedError

    def results(self, run: Run) -> "Results":
        """The typed reader of ``run``'s results."""
        return self.results_class.open(run)

    def summary(self, metrics: dict) -> str:
        """A short text table of ``metrics`` for the command line."""
        head = metrics.get("headline") or {}
        return f"{head.get('name', 'headline')}: {head.get('value')}"

    def stage_plan(self, config: Any) -> list[tuple[str, float]]:
        """The stages a run of ``config`` goes through, as (progress stage pattern, relative work).

        Patterns are ``fnmatch`` patterns of the :class:`~kgml_core.progress.ProgressEvent` stage
        names; the work (e.g. epochs) weights the overall progress bar and the time-left estimate
        (:class:`~kgml_core.progress.Timeline`). Empty: stages are listed as they come.
        """
        return []

    def default_name(self, config: Any) -> str:
        """The run's display name when the user gives none."""
        return self.name_for(getattr(config, "preset", ""), getattr(config, "states", ()) or ())

    def name_for(self, preset: str, states: Iterable[str] = ()) -> str:
        """A readable run name from the preset and the states: "State vs global · quick · IL, IA"."""
        return " · ".join(p for p in (self.short_title or self.kind, preset, ", ".join(states)) if p)

    # -- what every experiment shares ----------------------------------------
    def config(self, preset: str = "quick", **overrides: Any) -> Any:
        """The checked configuration of preset ``preset`` with ``overrides``."""
        return self.config_class.from_preset(preset, **overrides)

    def execute(self, config: Any | None = None, store: RunStore | None = None,
                progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                name: str | None = None, resume: str | None = None) -> Run:
        """Run the experiment into a new run of ``store`` (or resume run ``resume``) and return it.

        ``resume`` (resumable experiments only) is the id of a cancelled, failed
        or interrupted run of the same configuration (only
        :data:`~kgml_core.config.ExperimentConfig.EXECUTION_KEYS` may differ).
        On cancellation the run is marked ``cancelled`` and returned; on an
        error it is marked ``failed`` and the error is raised.
        """
        import time

        import torch

        config = config if config is not None else self.config()
        store = store or RunStore()
        run = self._open(config, store, name, resume)
        torch.set_num_threads(max(1, int(getattr(config, "threads", 1) or 1)))
        torch.manual_seed(int(getattr(config, "seed", 0) or 0))
        start = time.time()
        with run.recording(), cancel_scope(cancel):  # the simulator checks it between simulated years
            metrics = self.run(config, run, beating(run, progress), cancel)
            metrics["seconds"] = time.time() - start
            run.save_metrics(metrics)
            run.log(f"finished in {metrics['seconds']:.1f} s")
        return run

    def _open(self, config: Any, store: RunStore, name: str | None, resume: str | None) -> Run:
        if not resume:
            return store.create(self.kind, config.to_dict(), name=name or self.default_name(config))
        if not self.resumable:
            raise ValueError(f"experiment {self.kind!r} cannot resume a run")
        saved = store.get(resume).config
        diff = config.differences(saved)
        if diff:
            raise ValueError(f"run '{resume}' was made with another configuration (differs in {diff}); "
                             f"resume it with the configuration saved in its config.json")
        run = store.reopen(resume, self.kind)
        run.log(f"resumed; saved weights: {', '.join(run.weight_names()) or 'none'}")
        return run

    def resume_config(self, run: Run, **execution: Any) -> Any:
        """The configuration saved in ``run``, with execution settings (threads, device) changed."""
        bad = sorted(set(execution) - set(self.config_class.EXECUTION_KEYS))
        if bad:
            raise ValueError(f"a resumed run keeps its configuration; only {self.config_class.EXECUTION_KEYS} "
                             f"may change, not {bad}")
        return self.config_class.from_dict(run.config).with_settings(execution)


def beating(run: Run, progress: ProgressCallback | None) -> ProgressCallback:
    """A progress callback that also beats the run's heart once per epoch end."""
    def callback(event: ProgressEvent) -> None:
        if event.step == event.n_steps:
            run.heartbeat()
        if progress is not None:
            progress(event)
    return callback


@dataclass
class Results:
    """Base of the experiments' typed result readers: one finished run and its metrics.

    ``MAP_DATASET`` names the run's county dataset that the emission maps show
    (None: the experiment makes no county map).
    """

    run: Run
    metrics: dict
    MAP_DATASET: ClassVar[str | None] = None

    @classmethod
    def open(cls, run: Run):
        """The reader of ``run`` (its metrics read once)."""
        return cls(run, run.metrics())

    @property
    def headline(self) -> dict:
        """``{"name": ..., "value": ...}``: the run's one-number summary."""
        return self.metrics.get("headline", {})

    def predictions(self):
        """The run's predictions.nc (xarray.Dataset)."""
        return self.run.predictions()

    def map_dataset(self):
        """The county dataset of ``MAP_DATASET`` (fluxes on unit x time, a ``model`` dim when several)."""
        if self.MAP_DATASET is None:
            raise ValueError(f"run '{self.run.id}' ({self.run.kind}) has no county map")
        return self.run.dataset(self.MAP_DATASET)

    def summary_table(self):
        """The run's scores as a table (pandas.DataFrame) for reports and exports."""
        raise NotImplementedError
