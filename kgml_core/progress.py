"""Progress reporting and cooperative cancellation for long computations.

A trainer calls a :data:`ProgressCallback` with a :class:`ProgressEvent` after
each step or epoch (the CLI draws a progress bar from it, the app a live
panel), and calls :meth:`CancelToken.check` at the same points, which raises
:class:`Cancelled` once someone has called :meth:`CancelToken.cancel`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable


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


def report(progress: ProgressCallback | None, cancel: CancelToken | None,
           event: ProgressEvent) -> None:
    """Check for cancellation, then pass ``event`` to ``progress`` (either may be None)."""
    if cancel is not None:
        cancel.check()
    if progress is not None:
        progress(event)
