"""Progress reporting and cooperative cancellation for long computations.

A trainer calls a :data:`ProgressCallback` with a :class:`ProgressEvent` after
each step or epoch (the CLI draws a progress bar from it, the app a live
panel), and calls :meth:`CancelToken.check` at the same points, which raises
:class:`Cancelled` once someone has called :meth:`CancelToken.cancel`.

Deep library code that has no progress to report but runs long (the simulator's
daily loop) calls :func:`check_cancelled` instead of taking a token argument
through every layer: :meth:`Experiment.execute` opens a :func:`cancel_scope`
for the token of its job, and outside any scope the check does nothing.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator


@dataclass
class ProgressEvent:
    """Where a computation stands.

    ``stage`` names the phase (for example ``"global/step2"``); ``epoch`` and
    ``step`` count from 1 up to ``n_epochs`` and ``n_steps`` (0 when the phase
    has no epochs or steps); ``losses`` maps loss names to their latest values;
    ``note`` marks a message worth keeping for the whole run (a reused stage).
    """

    stage: str
    epoch: int
    n_epochs: int
    step: int
    n_steps: int
    losses: dict[str, float] = field(default_factory=dict)
    message: str = ""
    note: bool = False

    @property
    def fraction(self) -> float:
        """Fraction of the stage done, in [0, 1] (epoch-level resolution when steps are 0)."""
        if self.n_epochs <= 0:
            return 1.0
        within = self.step / self.n_steps if self.n_steps > 0 else 1.0
        return min(1.0, max(0.0, (self.epoch - 1 + within) / self.n_epochs))


ProgressCallback = Callable[[ProgressEvent], None]


class Cancelled(Exception):
    """Raised inside a computation whose :class:`CancelToken` was cancelled."""


class CancelToken:
    """A flag another thread sets to stop a computation at its next check point."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the computation to stop."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` has been called."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled("computation cancelled")


_SCOPE: contextvars.ContextVar["CancelToken | None"] = contextvars.ContextVar("kgml_cancel_scope", default=None)


@contextlib.contextmanager
def cancel_scope(token: CancelToken | None) -> Iterator[None]:
    """Make ``token`` the one :func:`check_cancelled` consults in this thread (context) for the block."""
    reset = _SCOPE.set(token)
    try:
        yield
    finally:
        _SCOPE.reset(reset)


def check_cancelled() -> None:
    """Raise :class:`Cancelled` if the token of the enclosing :func:`cancel_scope` was cancelled."""
    token = _SCOPE.get()
    if token is not None:
        token.check()


def report(progress: ProgressCallback | None, cancel: CancelToken | None,
           event: ProgressEvent) -> None:
    """Check for cancellation, then pass ``event`` to ``progress`` (either may be None)."""
    if cancel is not None:
        cancel.check()
    if progress is not None:
        progress(event)


@dataclass
class StageSpan:
    """One stage of a run as seen from its events: when it started and how far it got (s, fraction)."""

    name: str
    started: float
    updated: float
    fraction: float = 0.0
    done: bool = False

    @property
    def seconds(self) -> float:
        return self.updated - self.started


class Timeline:
    """The stages of one run, their progress, the overall fraction done and the time left.

    ``plan`` lists the stages a run is expected to go through as (name pattern, weight):
    ``fnmatch`` patterns (``"state_*/step3"``) and a weight proportional to the work
    (e.g. epochs x batches). The overall fraction is the weighted share of planned work
    done; the time left extrapolates the measured speed (seconds per unit of weight)
    of the stages done so far to the work that remains. Without a plan the stages
    are listed as they come and only the current stage's time left is known.
    """

    def __init__(self, plan: list[tuple[str, float]] | tuple = ()):
        self.plan = [(str(p), max(float(w), 0.0)) for p, w in plan]
        self.spans: list[StageSpan] = []
        self.started: float | None = None

    def update(self, event: ProgressEvent, now: float) -> None:
        """Record ``event`` seen at time ``now`` (s)."""
        if self.started is None:
            self.started = now
        current = self.spans[-1] if self.spans else None
        if current is None or current.name != event.stage:
            if current is not None:
                current.done, current.fraction, current.updated = True, 1.0, now
            current = StageSpan(event.stage, now, now)
            self.spans.append(current)
        current.updated = now
        current.fraction = event.fraction if event.n_epochs > 0 else current.fraction

    def _weight(self, stage: str) -> float | None:
        from fnmatch import fnmatch

        for pattern, weight in self.plan:
            if fnmatch(stage, pattern):
                return weight
        return None

    def _plan_index(self, stage: str) -> int | None:
        from fnmatch import fnmatch

        return next((i for i, (pattern, _) in enumerate(self.plan) if fnmatch(stage, pattern)), None)

    def _planned_total(self) -> float:
        """Planned work; a wildcard entry counts once per stage it matched (at least once), and a planned
        stage that a later planned stage overtook without it ever starting (skipped: e.g. no real files)
        counts nothing."""
        from fnmatch import fnmatch

        reached = max((i for i in (self._plan_index(s.name) for s in self.spans) if i is not None), default=-1)
        total = 0.0
        for i, (pattern, weight) in enumerate(self.plan):
            matched = len({s.name for s in self.spans if fnmatch(s.name, pattern)})
            if matched or i > reached:
                total += weight * max(matched, 1)
        return total

    def fraction(self) -> float | None:
        """Share of the planned work done, in [0, 1]; None without a plan."""
        total = self._planned_total()
        if not self.plan or total <= 0:
            return None
        done = sum((self._weight(s.name) or 0.0) * (1.0 if s.done else s.fraction) for s in self.spans)
        return min(1.0, done / total)

    def seconds_left(self, now: float) -> float | None:
        """Estimated seconds to the end: planned work left at the speed measured so far (None if unknown)."""
        frac = self.fraction()
        if frac is not None and self.started is not None:
            measured = [(s.seconds, (self._weight(s.name) or 0.0) * (1.0 if s.done else s.fraction))
                        for s in self.spans if self._weight(s.name)]
            seconds, work = sum(m[0] for m in measured), sum(m[1] for m in measured)
            if work > 0 and frac > 0.02:
                return max(0.0, seconds / work * self._planned_total() * (1 - frac))
            return None
        current = self.spans[-1] if self.spans else None
        if current is not None and 0.05 < current.fraction < 1:
            return current.seconds / current.fraction * (1 - current.fraction)
        return None

    def stages(self) -> list[dict]:
        """Every planned and seen stage in order: name, status (done / running / waiting), seconds."""
        from fnmatch import fnmatch

        rows = [{"stage": s.name, "status": "done" if s.done else "running", "seconds": s.seconds}
                for s in self.spans]
        for pattern, _ in self.plan:
            if not any(fnmatch(s.name, pattern) for s in self.spans):
                rows.append({"stage": pattern, "status": "waiting", "seconds": 0.0})
        return rows
