"""Settings of the template experiment (the process-model baseline)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kgml_core.config import ExperimentConfig


@dataclass
class TemplateConfig(ExperimentConfig):
    """states, years (first, last), seed and heterogeneity of the simulated worlds;
    max_counties: counties per state (None: all)."""

    states: tuple[str, ...] = ("IA",)
    years: tuple[int, int] = (2012, 2014)
    seed: int = 0
    heterogeneity: float = 1.0
    max_counties: int | None = 20
    threads: int = 1
    preset: str = "quick"

    LABEL: ClassVar[str] = "template config"

    def check(self) -> None:
        """At least one state and a positive number of counties."""
        if not self.states:
            raise ValueError("the template experiment needs at least one state")
        if self.max_counties is not None and self.max_counties < 1:
            raise ValueError(f"max_counties must be >= 1 or None, got {self.max_counties}")


TemplateConfig.PRESETS = {"quick": {}, "tiny": {"years": (2013, 2013), "max_counties": 2}}
