"""Configuration and presets of the state-vs-global experiment."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from kgml_core.config import ExperimentConfig
from kgml_core.distributed import check_scheduler
from kgml_core.models.kgml_ag import RH_RESPONSES
from kgml_core.training.protocol import ProtocolConfig
from kgml_core.training.trainer import StepConfig

MODEL_NAMES = ("process_model", "oracle_global", "oracle_state", "oracle_towers", "emulator_oracle", "emulator_state",
               "no_knowledge",
               "global",
               "state_specific", "auto_region")
# process-model rungs that need the oracle worlds (state-mean and domain-mean true parameters)
ORACLES = ("oracle_global", "oracle_state")
# "none": the ablation without pretraining (no process-model data: the networks learn from the observations)
PRETRAIN_WORLDS = ("ensemble", "process", "none")
# the process-model samples of step 4: the pretraining samples again, or the modelled region's prior ensemble
STEP4_WORLDS = ("pretraining", "regional")
FLUXES = ("RA", "RH", "NEE", "RECO")
TARGETS = FLUXES + ("YIELD",)
KIND = "state_vs_global"
# the default pretraining domain: the Corn Belt, whatever states a run models (so pretraining is reused)
CORN_BELT = ("IA", "IL", "IN", "MN", "MO", "NE", "OH", "WI")


@dataclass
class StateVsGlobalConfig(ExperimentConfig):
    """Configuration of the experiment; defaults are the ``quick`` preset.

    states, years (first, last), test_years (the last N years held out),
    test_fraction (share of each state's counties held out), heterogeneity
    (of the simulator's parameters), seed, sites_per_state (flux towers),
    max_counties (per state, None for all), pretrain_states (the pretraining
    domain: the emulator is pretrained on the process-model world of
    ``pretrain_units`` counties drawn from these states, whatever ``states``
    the run models, so the pretrained stage and the scaling statistics are
    reused when only the states change; None: the training counties of
    ``states``, the design before), pretrain_units (counties drawn for
    pretraining, None for all), pretrain_span (years per pretraining county,
    drawn per county with the seed from the ``pretrain_window`` years that end
    with the last training year, so the domain sees more summers than one
    county does; all of them when the span covers the window),
    pretrain_replicas (copies of every pretraining county, each with its own
    prior draw of the parameters and the county's weather: the county's
    ``pretrain_span`` years are dealt out among its copies, so the emulator
    sees ``pretrain_replicas`` times as many parameter vectors at the same
    number of samples and the same years; ensemble pretraining on
    ``pretrain_states`` only, ignored otherwise; 4, adopted in the 3-seed
    evaluation of docs/kgml.md; 1: one draw per county, the design before),
    pretrain_replica_years ("dealt": the county's years are dealt out among
    its copies; "shared": every copy sees the same ``pretrain_span //
    pretrain_replicas`` years, the same weather under different draws),
    pretrain_segment (None: the pretraining world is one simulation over the
    pretraining years; N: consecutive N-year worlds, each spun up as the
    observed world is, so their soil pools have as short a history as its;
    measured, not adopted: docs/kgml.md, session 6), pretrain_stratified
    (the same number of pretraining counties from every pretraining state
    instead of a draw from the whole domain; measured, not adopted),
    step4_world (the process-model samples of step 4, the emulator's last
    low-rate training before the estimates: "pretraining", the pretraining
    samples again; "regional", the prior ensemble of the modelled states'
    training counties over the training years, one draw per county, spun up
    as the observed world: the process model where the experiment is, with no
    observation; ensemble pretraining only; see docs/kgml.md, session 11),
    warmup (days of the previous year each county-year's recurrent networks
    read before 1 January, no loss on them: the memory of last year's litter,
    in pretraining, fine-tuning, estimation and prediction alike; 0: none;
    182, from early July, the cheapest that met the held-out-year target in the
    screen of docs/kgml.md),
    max_yield_samples (county-years for yield fine-tuning, None for all),
    model sizes (``rh_layers``: layers of the Rh GRU, 1; 2 measured in session 6, not adopted),
    rh_response ("gru": the Rh GRU's read-out is Rh, as in KGML-ag; "q10": a base
    respiration at 20 degC times ``Q10 ** ((Ts - 20) / 10)`` with the sample's or the
    estimate's Q10 and a soil-temperature proxy, see :class:`~kgml_core.models.kgml_ag.KGMLAgConfig`),
    soil_days (e-folding days of that proxy), q10_in_networks (with "q10": whether RH_Q10 also
    stays in the networks' parameter input), swc_output (the model also predicts soil water,
    pretrained on the process model's SWC; the towers' SWC enters the estimates), rh_moisture
    (with "q10" and swc_output: the factor also holds the soil-water response of the predicted
    SWC with the optimum and width of the parameter vector), the
    protocol's step settings, no_knowledge (level-1 training),
    region_method / n_regions (Auto Region Detector), n_boot (bootstrap
    resamples), models (the rungs of the ladder to train; "global" is always
    trained, the region models start from it; ``oracle_state`` / ``oracle_global``
    are the process model run with each state's mean true parameters / with the
    best single parameter set, ``oracle_towers`` the process model run with the mean true
    parameters of each state's flux-tower host counties (what a state-specific model that
    learns from its towers could recover at best), ``emulator_oracle`` the emulator given each
    county's true parameters, ``emulator_state`` the global model's networks
    given each state's mean true parameters: a state-specific model with a
    perfect estimate), pretrain_world ("ensemble": pretrain a
    parameter-conditioned emulator on per-county prior draws, and the global
    and regional models estimate parameter vectors with the networks frozen;
    "process": the original single-parameter pretraining, the models fine-tune
    weights; "none": the ablation without pretraining, see
    :meth:`training_protocol`), pretrain_years (first, last year of the
    pretraining world; None: the experiment's training years; the process
    model can be run for any past year, so more weather can be seen in
    pretraining than observations exist; it must end before the held-out
    years), balance_loss (False: the ablation without the mass-balance
    term, in every step), block_deg (held-out counties in spatial blocks of
    this many degrees; None draws them one by one), sweep (heterogeneity values, run after the main experiment),
    threads (torch CPU threads: 1 is fastest for these small GRUs, and
    several OpenMP threads thrash on a shared machine), device ("auto", "cpu", "cuda"),
    scheduler (where the level-1, per-state and per-region models and the sweep points
    run: "auto", "sequential", "local" or a Dask scheduler address; "auto" without a
    scheduler set shares them with a second process on a machine of two or more cores;
    see :class:`kgml_core.distributed.ExperimentCluster`; results do not depend on it).
    """

    states: tuple[str, ...] = ("IL", "IA", "IN")
    years: tuple[int, int] = (2010, 2015)
    test_years: int = 2
    test_fraction: float = 0.3
    heterogeneity: float = 1.0
    seed: int = 0
    sites_per_state: int = 4
    max_counties: int | None = None
    pretrain_states: tuple[str, ...] | None = CORN_BELT
    pretrain_units: int | None = 256
    pretrain_span: int = 8
    pretrain_window: int = 24
    pretrain_replicas: int = 4
    pretrain_replica_years: str = "dealt"
    pretrain_segment: int | None = None
    pretrain_stratified: bool = False
    step4_world: str = "pretraining"
    warmup: int = 182
    max_yield_samples: int | None = 256
    hidden: int = 32
    flux_hidden: int = 16
    rh_layers: int = 1
    rh_response: str = "gru"
    soil_days: float = 7.0
    q10_in_networks: bool = True
    swc_output: bool = False
    rh_moisture: bool = False
    head_hidden: int = 12
    dropout: float = 0.1
    protocol: ProtocolConfig = field(default_factory=lambda: quick_protocol("ensemble"))
    no_knowledge: StepConfig = field(default_factory=lambda: StepConfig(epochs=10, batch_size=64, lr=1e-2,
                                                                        cosine=True))
    region_method: str = "kmeans"
    n_regions: int | None = 3
    pretrain_world: str = "ensemble"
    pretrain_years: tuple[int, int] | None = None
    balance_loss: bool = True
    block_deg: float | None = 1.0
    n_boot: int = 300
    models: tuple[str, ...] = MODEL_NAMES
    sweep: tuple[float, ...] = ()
    threads: int = 1
    device: str = "auto"
    scheduler: str = "auto"
    preset: str = "quick"

    LABEL: ClassVar[str] = "state-vs-global config"
    EXECUTION_KEYS: ClassVar[tuple[str, ...]] = ("threads", "device", "scheduler")

    def check(self) -> None:
        """Known models ("global" always trained), a training year left, a fraction in (0, 1), a device."""
        unknown = sorted(set(self.models) - set(MODEL_NAMES))
        if unknown:
            raise ValueError(f"unknown models {unknown}: expected some of {list(MODEL_NAMES)}")
        self.models = tuple(m for m in MODEL_NAMES if m in set(self.models) | {"global"})
        if not self.states:
            raise ValueError("state-vs-global needs at least one state")
        if not 1 <= self.test_years < self.years[1] - self.years[0] + 1:
            raise ValueError(f"test_years must leave at least one training year in {self.years}, "
                             f"got {self.test_years}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.pretrain_world not in PRETRAIN_WORLDS:
            raise ValueError(f"pretrain_world must be one of {list(PRETRAIN_WORLDS)}, got {self.pretrain_world!r}")
        if self.pretrain_states is not None:
            self.pretrain_states = tuple(str(s) for s in self.pretrain_states)
            if not self.pretrain_states:
                raise ValueError("pretrain_states must name at least one state, or be None "
                                 "(pretrain on the training counties of the modelled states)")
        if not 1 <= int(self.pretrain_span) <= int(self.pretrain_window):
            raise ValueError(f"pretrain_span must be at least 1 year and at most pretrain_window "
                             f"({self.pretrain_window}), got {self.pretrain_span!r}")
        if not 1 <= int(self.pretrain_replicas) <= int(self.pretrain_span):
            raise ValueError(f"pretrain_replicas must be 1 to pretrain_span ({self.pretrain_span}: every copy "
                             f"of a county needs a year), got {self.pretrain_replicas!r}")
        if self.pretrain_segment is not None and int(self.pretrain_segment) < 1:
            raise ValueError(f"pretrain_segment must be at least 1 year, or None (one world), "
                             f"got {self.pretrain_segment!r}")
        if self.step4_world not in STEP4_WORLDS:
            raise ValueError(f"step4_world must be one of {list(STEP4_WORLDS)}, got {self.step4_world!r}")
        if int(self.rh_layers) < 1:
            raise ValueError(f"rh_layers must be at least 1, got {self.rh_layers!r}")
        if self.rh_response not in RH_RESPONSES:
            raise ValueError(f"rh_response must be one of {list(RH_RESPONSES)}, got {self.rh_response!r}")
        if self.rh_moisture and not (self.rh_response == "q10" and self.swc_output):
            raise ValueError("rh_moisture needs rh_response='q10' and swc_output=True")
        if not float(self.soil_days) >= 1:
            raise ValueError(f"soil_days must be at least 1 day, got {self.soil_days!r}")
        if self.pretrain_replica_years not in ("dealt", "shared"):
            raise ValueError(f"pretrain_replica_years must be 'dealt' or 'shared', got {self.pretrain_replica_years!r}")
        if not 0 <= int(self.warmup) <= 365:
            raise ValueError(f"warmup must be 0 to 365 days (of the previous year), got {self.warmup!r}")
        if self.pretrain_years is not None:
            self.pretrain_years = (int(self.pretrain_years[0]), int(self.pretrain_years[1]))
            last_train = self.years[1] - self.test_years
            if not self.pretrain_years[0] <= self.pretrain_years[1] <= last_train:
                raise ValueError(f"pretrain_years must be (first, last) ending by the last training year "
                                 f"{last_train} (the held-out years stay unseen), got {self.pretrain_years}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        self.scheduler = check_scheduler(self.scheduler)

    @classmethod
    def from_dict(cls, data):
        """Inverse of :meth:`to_dict`; a configuration saved before the warm-up existed (no ``warmup``)
        was trained without one, and reads back as ``warmup=0``; one saved before the county copies
        (no ``pretrain_replicas``) as ``pretrain_replicas=1``."""
        data = data if "warmup" in data else {**data, "warmup": 0}
        return super().from_dict(data if "pretrain_replicas" in data else {**data, "pretrain_replicas": 1})

    def pretraining_years(self) -> tuple[int, int]:
        """First and last year of the pretraining world: ``pretrain_years``, or the
        ``pretrain_window`` years ending with the last training year (the process model
        can be run for past years; the held-out years stay unseen)."""
        if self.pretrain_years is not None:
            return tuple(self.pretrain_years)
        last = self.years[1] - self.test_years
        return (last - int(self.pretrain_window) + 1, last)

    def training_protocol(self) -> ProtocolConfig:
        """The protocol as trained: ``protocol`` with the ablations of this configuration applied.

        ``balance_loss=False`` sets the mass-balance weight of every step to 0.
        ``pretrain_world="none"`` trains nothing on process-model data (steps 1,
        2 and 4 get no epochs; the process world only gives the scaling
        statistics): the yield head learns from the county yields (step 3) and
        the shared, Ra, Rh and NEE networks from the flux sites with the
        balance term, with the level-1 model's budget (``no_knowledge``), before
        the regions fine-tune Rh and NEE. Applying it twice changes nothing.
        """
        p = self.protocol
        if self.pretrain_world == "none":
            p = dataclasses.replace(p, step1=dataclasses.replace(p.step1, epochs=0),
                                    step2=dataclasses.replace(p.step2, epochs=0),
                                    step4=dataclasses.replace(p.step4, epochs=0),
                                    step5=dataclasses.replace(self.no_knowledge, balance=p.step2.balance),
                                    step5_groups=("shared", "ra", "rh", "nee"))
        if not self.balance_loss:
            p = dataclasses.replace(p, **{name: dataclasses.replace(getattr(p, name), balance=0.0)
                                          for name in ("step1", "step2", "step3", "step4", "step5",
                                                       "region3", "region5")})
        return p


def quick_protocol(pretrain_world: str = "ensemble") -> ProtocolConfig:
    """The ``quick`` protocol for a pretraining world.

    Few large full-year batches, a high learning rate annealed by a cosine: the
    GRUs' cost is per time step, so large batches are nearly free on a CPU.
    The pretraining steps see 2,048 county-years of the Corn Belt domain (256
    counties x 8 years each, drawn from 24): 2 + 20 epochs (docs/kgml.md, "The emulator and its
    pretraining", for the variants measured).
    With the ``ensemble`` (a parameter-conditioned emulator) step 5 and the
    regions estimate the parameter vector with the networks frozen; with
    ``process`` (the original single-parameter pretraining) they fine-tune
    the Rh and NEE networks.
    """
    legacy = ProtocolConfig(
        step1=StepConfig(epochs=2, batch_size=64, lr=1e-2, self_paced=True, balance=0.0, cosine=True),
        step2=StepConfig(epochs=20, batch_size=64, lr=1e-2, cosine=True),
        step3=StepConfig(epochs=30, batch_size=128, lr=1e-2, cosine=True),
        step4=StepConfig(epochs=1, batch_size=64, lr=1e-3),
        step5=StepConfig(epochs=15, batch_size=16, lr=1e-3, cosine=True),
        region3=StepConfig(epochs=2, batch_size=64, lr=2e-3, l2sp=1e-3),
        region5=StepConfig(epochs=30, batch_size=24, lr=1e-3, l2sp=1e-2, cosine=True),
        region_groups=("rh", "nee"), step5_groups=("rh", "nee"))
    return estimation_steps(legacy, pretrain_world, 15, 30)


def estimation_steps(protocol: ProtocolConfig, pretrain_world: str, epochs: int,
                     region_epochs: int) -> ProtocolConfig:
    """``protocol`` with step 5 and the regions estimating parameters (``ensemble``), else unchanged.

    ``theta`` is in prior standard units, so the rate is large (0.1); the
    global estimate is pulled weakly toward the prior mean, a region's toward
    the global estimate (L2-SP on ``theta`` alone), with the strength chosen
    per region from :data:`PULL_GRID` and an infinite pull (the global
    estimate itself: no region-specific estimate) by validation on its flux
    sites, each tower left out and each training year left out
    (``l2sp_grid_folds="sites+years"``: a pull that helps only the years it
    was fitted on is declined; :mod:`kgml_core.training.pull`; regions with
    one site keep 1e-2).
    """
    if pretrain_world != "ensemble":
        return protocol
    return dataclasses.replace(
        protocol, step5=StepConfig(epochs=epochs, batch_size=64, lr=0.1, cosine=True, param_prior=1e-2),
        region5=StepConfig(epochs=region_epochs, batch_size=64, lr=0.1, cosine=True, l2sp=1e-2,
                           l2sp_grid=PULL_GRID, l2sp_grid_global=True,
                           l2sp_grid_folds="sites+years"),
        region_groups=("params",), step5_groups=("params",), estimate_with_yields=False)


# candidate pulls of a region's parameter estimate toward the global one, strongest first (1e-1: about the
# global estimate itself; 1e-2: the fixed pull before the choice)
PULL_GRID = (1e-1, 1e-2, 1e-3)
_ONE = StepConfig(epochs=1, batch_size=8, lr=3e-3)
StateVsGlobalConfig.PRESETS = {  # overrides of the defaults (the quick preset)
    "quick": {},
    # tests, seconds
    "tiny": dict(years=(2012, 2014), test_years=1, max_counties=6, sites_per_state=1, pretrain_units=6,
                 pretrain_span=2, pretrain_window=2, pretrain_replicas=1, max_yield_samples=12, hidden=8, flux_hidden=8, head_hidden=8,
                 n_regions=2, n_boot=50, warmup=30,
                 protocol=estimation_steps(ProtocolConfig(*(_ONE,) * 7), "ensemble", 1, 1), no_knowledge=_ONE),
    # the article's scale
    "full": dict(
        years=(2000, 2019), test_years=4, sites_per_state=6, pretrain_units=400, pretrain_span=16,
        pretrain_window=30,
        max_yield_samples=None,
        hidden=64, flux_hidden=32, head_hidden=32, dropout=0.2, n_regions=None, n_boot=1000,
        protocol=estimation_steps(ProtocolConfig(
            step1=StepConfig(epochs=10, batch_size=128, lr=5e-3, self_paced=True, balance=0.0, cosine=True),
            step2=StepConfig(epochs=60, batch_size=128, lr=5e-3, cosine=True),
            step3=StepConfig(epochs=10, batch_size=128, lr=2e-3),
            step4=StepConfig(epochs=5, batch_size=128, lr=5e-4),
            step5=StepConfig(epochs=30, batch_size=32, lr=1e-3, cosine=True),
            region3=StepConfig(epochs=8, batch_size=128, lr=1e-3, l2sp=1e-3),
            region5=StepConfig(epochs=60, batch_size=32, lr=1e-3, l2sp=1e-2, cosine=True),
            region_groups=("rh", "nee"), step5_groups=("rh", "nee")), "ensemble", 30, 60),
        no_knowledge=StepConfig(epochs=40, batch_size=64, lr=5e-3, cosine=True)),
}


def preset(name: str, **overrides) -> StateVsGlobalConfig:
    """``tiny`` (tests, seconds), ``quick`` (app and CI, minutes on 2 cores) or ``full`` (article scale).

    ``pretrain_world="process"`` (or ``"none"``) without a ``protocol``
    override takes the original protocol (the models fine-tune the Rh and NEE
    networks: a single-parameter emulator, or none, has no parameters to
    estimate).
    """
    if overrides.get("pretrain_world") in ("process", "none") and "protocol" not in overrides:
        base = StateVsGlobalConfig.from_preset(name).protocol
        overrides["protocol"] = dataclasses.replace(
            base, step5=quick_protocol("process").step5 if name == "quick" else base.step5,
            region5=quick_protocol("process").region5 if name == "quick" else base.region5,
            region_groups=("rh", "nee"), step5_groups=("rh", "nee"))
    return StateVsGlobalConfig.from_preset(name, **overrides)
