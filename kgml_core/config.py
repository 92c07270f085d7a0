"""Helpers shared by the configuration dataclasses (experiments, protocol steps)."""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping


def check_known_keys(cls: type, data: Mapping[str, Any], what: str) -> None:
    """Raise ValueError naming the keys of ``data`` that dataclass ``cls`` does not have.

    Saved configurations are data, so a misspelt key must fail loudly instead of
    being ignored.
    """
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} keys {unknown}; known: {sorted(known)}")
