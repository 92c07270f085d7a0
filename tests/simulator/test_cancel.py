"""A world simulation stops at the next simulated year once its job's token is cancelled."""
from __future__ import annotations

import pytest

from kgml_core.progress import CancelToken, Cancelled, cancel_scope, check_cancelled
from kgml_core.simulator import simulate_world


class CancelAtCheck(CancelToken):
    """Cancels itself at its ``at``-th check: a Cancel pressed while the simulation runs."""

    def __init__(self, at: int):
        super().__init__()
        self.at, self.checks = at, 0

    def check(self) -> None:
        self.checks += 1
        if self.checks == self.at:
            self.cancel()
        super().check()


def test_simulation_checks_its_scope_every_simulated_year_and_stops(tiny_cfg):
    token = CancelAtCheck(at=3)  # after the weather and the first simulated year
    with cancel_scope(token), pytest.raises(Cancelled):
        simulate_world(tiny_cfg)
    assert token.checks == 3


def test_no_scope_no_check():
    token = CancelToken()
    token.cancel()
    check_cancelled()  # outside any scope: nothing to stop
    with cancel_scope(token), pytest.raises(Cancelled):
        check_cancelled()
    check_cancelled()  # the scope has ended
