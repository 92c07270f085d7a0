"""Configuration and presets of the real-yields experiment."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from kgml_core.config import ExperimentConfig
from kgml_core.training.protocol import ProtocolConfig
from kgml_core.training.trainer import StepConfig

KIND = "real_yields"
# baselines first, then the process model and the learned models
MODEL_NAMES = ("county_mean", "weather_linear", "process_model", "global", "auto_region")
BASELINES = ("county_mean", "weather_linear")
HRRR_IOWA = "weather/hrrr_daily_county_mean_iowa35_2017-2022.csv"
NASS_CORN = "nass/nass_county_corn_grain_yield_bu_acre_US_2012-2021_quickstats.csv"


@dataclass
class RealYieldsConfig(ExperimentConfig):
    """Configuration; defaults are the ``quick`` preset on the HRRR Iowa counties.

    weather : county daily weather table or gridded daily NetCDF ('' = the HRRR Iowa file of the
        real-data folder); yields : NASS county yields ('' = the Quick Stats corn export);
    soils : optional soil grid or contract file (the simulator's soil fields where absent);
    crop : CORN or SOYBEANS; years (first, last); test_years : the last N years held out;
    test_fraction : share of counties held out (all years); seed; model sizes; the protocol's
    steps 1-3 (pretraining on the process world, yield head on NASS) and region3 (per-region
    fine-tuning with the L2-SP pull toward the global weights); region_method / n_regions
    (Auto Region Detector; None: chosen by silhouette); n_boot; threads; device.
    """

    weather: str = ""
    yields: str = ""
    soils: str = ""
    crop: str = "CORN"
    years: tuple[int, int] = (2017, 2021)
    test_years: int = 1
    test_fraction: float = 0.3
    seed: int = 0
    hidden: int = 32
    flux_hidden: int = 16
    head_hidden: int = 12
    dropout: float = 0.1
    protocol: ProtocolConfig = field(default_factory=lambda: ProtocolConfig(
        step1=StepConfig(epochs=20, batch_size=32, lr=1e-2, self_paced=True, balance=0.0, cosine=True),
        step2=StepConfig(epochs=40, batch_size=32, lr=1e-2, cosine=True),
        step3=StepConfig(epochs=60, batch_size=32, lr=5e-3, cosine=True),
        region3=StepConfig(epochs=30, batch_size=16, lr=2e-3, l2sp=1e-2, cosine=True)))
    region_method: str = "kmeans"
    n_regions: int | None = None
    n_boot: int = 500
    threads: int = 1
    device: str = "auto"
    preset: str = "quick"

    LABEL: ClassVar[str] = "real-yields config"
    # the stage harness of state-vs-global pretrains on one process world (default parameters), not an ensemble
    pretrain_world: ClassVar[str] = "process"

    def check(self) -> None:
        """A known crop, a training year left, a fraction in (0, 1), a device."""
        self.crop = self.crop.upper()
        if self.crop not in ("CORN", "SOYBEANS"):
            raise ValueError(f"crop must be CORN or SOYBEANS, got {self.crop!r}")
        if not 1 <= self.test_years < self.years[1] - self.years[0] + 1:
            raise ValueError(f"test_years must leave at least one training year in {self.years}, "
                             f"got {self.test_years}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")


_ONE = StepConfig(epochs=1, batch_size=16, lr=3e-3)
RealYieldsConfig.PRESETS = {
    "quick": {},
    "tiny": dict(hidden=8, flux_hidden=8, head_hidden=8, n_regions=2, n_boot=50,
                 protocol=ProtocolConfig(*(_ONE,) * 7)),
}
