"""The one error every loader raises, and how files are named in messages and provenance."""
from __future__ import annotations

from pathlib import Path


class LoaderError(ValueError):
    """A file is not what its loader expects; the message names file, column/row and expectation."""

    def __init__(self, path: str | Path, problem: str, expected: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.expected = expected
        tail = f"; expected {expected}" if expected else ""
        super().__init__(f"{Path(self.path).name}: {problem}{tail}")


def name_of(path: str | Path) -> str:
    """File name used in messages and provenance (the member name for zip members)."""
    return Path(str(path)).name
