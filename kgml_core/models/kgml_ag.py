"""KGML-ag: the multitask GRU of Liu et al. (2024) for agroecosystem carbon.

A shared GRU reads the 365-day driver sequence; an attention head turns its
states into the annual yield; an Ra GRU reads [shared states, drivers]; an Rh
GRU reads [shared states, drivers, residue input]; an NEE GRU reads
[Ra, Rh, drivers]. All values are standardised: the trainer converts to
physical units for the mass-balance loss (:mod:`kgml_core.training.losses`).

With ``n_params > 0`` the model is a parameter-conditioned emulator of the
process model (SDSA-KGML's location-dependent parameters made literal): a
vector of process-model parameters (in prior standard units) is appended to
every day's inputs of every sub-network. Pretraining gives each sample its
own parameters (a process-model ensemble); afterwards the model's own
``theta`` (one parameter vector, group ``params``) stands in for them, and
estimating ``theta`` from observations with the networks frozen is the
calibration of a global (one ``theta``) or regional model (one per region).

With ``warmup=K`` the first K days of ``x`` are a warm-up (the end of the
previous year): every GRU runs over them and carries its state into the
scored days, where the outputs start; the yield head attends to the scored
days only, and the residue input on warm-up days is the scored year's
pre-harvest value (none of its residue has entered yet).

With ``rh_response="q10"`` the Rh read-out carries the known temperature
response of decomposition (a knowledge-guided read-out): Rh in physical units
is ``softplus(GRU read-out)`` (the base respiration at 20 degC, g C m-2 d-1)
times ``Q10 ** ((Ts - 20) / 10)``, with Q10 the de-standardised ``RH_Q10`` of
the parameter vector (each sample's, or ``theta``) and Ts a soil-temperature
proxy computed from the air-temperature inputs (:func:`soil_temperature`).
The GRU keeps what the formula does not say (pools, moisture, frozen soil,
residue); Q10 acts on Rh through the formula. The read-out needs the
normalizer's scales (:meth:`KGMLAg.use_normalizer`, called by the trainer):
Rh still comes out standardised like the other outputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kgml_core.models.fast_gru import Dropout, Tanh, gru_batch_first, gru_time_major, series_from_parts, tanh_score
from kgml_core.features import INPUTS, PARAM_NAMES

RH_RESPONSES = ("gru", "q10")


@dataclass
class KGMLAgConfig:
    """Sizes of KGML-ag.

    n_inputs : number of daily input features (drivers + broadcast soils).
    hidden : hidden size of the shared GRU (64 in the article).
    n_layers : layers of the shared GRU (2 in the article).
    flux_hidden : hidden size of the Ra, Rh and NEE GRUs.
    head_hidden : hidden size of the attention scorer and yield MLP.
    dropout : dropout between the shared GRU layers and before the heads.
    rh_layers : layers of the Rh GRU (2 in the public code, 1 here by default).
    n_params : length of the process-model parameter vector appended to the
        inputs (0: none, the original KGML-ag).
    rh_response : "gru" (the Rh GRU's linear read-out is the standardised Rh,
        as in KGML-ag) or "q10" (the read-out is a base respiration at 20 degC
        scaled by ``Q10 ** ((Ts - 20) / 10)``; needs the inputs of
        :data:`~kgml_core.features.INPUTS` and, with ``n_params``, the
        parameters of ``PARAM_NAMES``; without parameters Q10 is the prior mean).
    soil_days : e-folding time (days) of the soil-temperature proxy of "q10".
    q10_in_networks : with "q10", whether ``RH_Q10`` stays in the networks'
        parameter input (False: Q10 acts only through the factor).
    rh_moisture : with "q10" and ``swc_output``, the factor also holds the soil-water
        response ``exp(-((SWC / FC - RH_SWC_OPT) / RH_SWC_WIDTH) ** 2)`` of the
        model's own SWC, the field capacity input and the parameter vector's optimum
        and width (which then act on Rh through it).
    swc_output : also predict the daily soil water content (``swc``, a linear
        read-out of the shared GRU's states, group ``shared``): pretrained on the
        process model's SWC, and the towers' SWC enters the estimate.
    """

    n_inputs: int = 19
    hidden: int = 64
    n_layers: int = 2
    flux_hidden: int = 32
    head_hidden: int = 32
    dropout: float = 0.2
    rh_layers: int = 1
    n_params: int = 0
    rh_response: str = "gru"
    soil_days: float = 7.0
    q10_in_networks: bool = True
    swc_output: bool = False
    rh_moisture: bool = False


class AttentionYieldHead(nn.Module):
    """Scores each day with a small MLP, softmax over days, weighted sum, MLP to one value."""

    def __init__(self, hidden: int, head_hidden: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(hidden, head_hidden), Tanh(),   # nn.Tanh's values, faster on CPU
                                   nn.Linear(head_hidden, 1))
        self.out = nn.Sequential(nn.Linear(hidden, head_hidden), nn.ReLU(),
                                 nn.Linear(head_hidden, 1))

    def forward(self, h: torch.Tensor, day_axis: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """h (batch, days, hidden) -> yield (batch,), attention weights (batch, days); ``day_axis=0``: time-major."""
        weights = torch.softmax(tanh_score(self.score, h), dim=day_axis)
        context = torch.einsum("bt,bth->bh" if day_axis == 1 else "tb,tbh->bh", weights, h)
        return self.out(context).squeeze(-1), weights


class FluxGRU(nn.Module):
    """A GRU (one layer unless told) and a linear read-out giving one daily series."""

    def __init__(self, n_in: int, hidden: int, layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.gru = nn.GRU(n_in, hidden, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, day_axis: int = 1) -> torch.Tensor:
        """x (batch, days, n_in) -> (batch, days); ``day_axis=0``: (days, batch, n_in) -> (days, batch)."""
        run = gru_batch_first if day_axis == 1 else gru_time_major
        return self.read(run(self.gru, x))

    def read(self, states: torch.Tensor) -> torch.Tensor:
        """The daily series from the GRU's states (..., hidden) -> (...)."""
        return self.out(states).squeeze(-1)

    def from_parts(self, parts) -> torch.Tensor:
        """The daily series (days, batch) from a time-major input given as pieces (see ``gru_from_parts``)."""
        return series_from_parts(self.gru, self.out, parts)


class KGMLAg(nn.Module):
    """KGML-ag. ``forward(x, residue, params)`` returns standardised yield, Ra, Rh, NEE.

    Parameters of ``forward``
    -------------------------
    x : (batch, days, n_inputs) standardised drivers and soils.
    residue : (batch, days) standardised residue input to the Rh network
        (zeros when None), or a callable ``residue(yield, ra)`` computing it from
        this pass's own standardised yield (batch,) and Ra (batch, days).
    params : (batch, n_params) process-model parameters in prior standard
        units; None uses the model's own estimate ``theta`` (ignored when
        ``n_params`` is 0).
    warmup : the first ``warmup`` days of ``x`` are a warm-up (``days`` then
        counts warm-up and scored days; ``residue`` covers the scored days only).

    Returns
    -------
    dict ``yield`` (batch,), ``ra``, ``rh``, ``nee`` (batch, scored days), ``attention`` (batch, scored days);
    with ``swc_output`` also ``swc`` (batch, scored days).
    """

    config_class = KGMLAgConfig
    READS_WARMUP = True         # forward(..., warmup=K): the trainer passes the samples' warm-up days
    SKIPS_FLUXES = True         # forward(..., yield_only=True): the yield without the flux networks
    # groups of parameters that the 5-step protocol trains or freezes
    GROUPS = {"shared": ("shared", "swc_head"), "yield": ("yield_head",), "ra": ("ra_net",),
              "rh": ("rh_net",), "nee": ("nee_net",), "params": ("theta",)}

    def __init__(self, config: KGMLAgConfig | None = None):
        super().__init__()
        self.config = config or KGMLAgConfig()
        c = self.config
        if c.rh_response not in RH_RESPONSES:
            raise ValueError(f"rh_response must be one of {list(RH_RESPONSES)}, got {c.rh_response!r}")
        self.q10_factor = c.rh_response == "q10"
        # the parameters the networks read: all, or all but Q10 when it acts through the factor alone
        q10 = PARAM_NAMES.index("RH_Q10")
        self._net_params = [i for i in range(c.n_params)
                            if c.q10_in_networks or not self.q10_factor or i != q10]
        if self.q10_factor:
            if c.n_inputs != len(INPUTS) or c.n_params not in (0, len(PARAM_NAMES)):
                raise ValueError(f"rh_response='q10' reads TA_MAX, TA_RANGE and RH_Q10: it needs the "
                                 f"{len(INPUTS)} inputs and 0 or {len(PARAM_NAMES)} parameters, got "
                                 f"{c.n_inputs} and {c.n_params}")
            if not c.soil_days >= 1:
                raise ValueError(f"soil_days must be at least 1 day, got {c.soil_days!r}")
            # mean, sd of: RH; TA_MAX; TA_RANGE; the RH_Q10 prior; SWC; FC; the RH_SWC_OPT and RH_SWC_WIDTH
            # priors (NaN until use_normalizer)
            self.register_buffer("rh_scales", torch.full((16,), float("nan")))
        if c.rh_moisture and not (self.q10_factor and c.swc_output and c.n_params):
            raise ValueError("rh_moisture needs rh_response='q10', swc_output and the parameter vector")
        n_in = c.n_inputs + len(self._net_params)
        # the parameter estimate of this model (prior standard units; 0 is the prior mean)
        self.theta = nn.Parameter(torch.zeros(c.n_params)) if c.n_params else None
        self.shared = nn.GRU(n_in, c.hidden, num_layers=c.n_layers, batch_first=True,
                             dropout=c.dropout if c.n_layers > 1 else 0.0)
        self.drop = Dropout(c.dropout)       # nn.Dropout's values and generator use, faster on CPU
        self.yield_head = AttentionYieldHead(c.hidden, c.head_hidden)
        self.ra_net = FluxGRU(c.hidden + n_in, c.flux_hidden)
        self.rh_net = FluxGRU(c.hidden + n_in + 1, c.flux_hidden, c.rh_layers, c.dropout)
        self.nee_net = FluxGRU(2 + n_in, c.flux_hidden)
        # soil water read from the shared states, so that they carry it to the Rh network
        self.swc_head = nn.Linear(c.hidden, 1) if c.swc_output else None

    def use_normalizer(self, norm) -> None:
        """Take the scales the "q10" read-out needs from a :class:`~kgml_core.training.data.Normalizer`
        (Rh's mean and sd, the air-temperature inputs', the Q10 prior's); nothing for "gru"."""
        if not self.q10_factor:
            return
        ta_max, ta_range, fc = (INPUTS.index(k) for k in ("TA_MAX", "TA_RANGE", "FC"))
        q10, opt, width = (PARAM_NAMES.index(k) for k in ("RH_Q10", "RH_SWC_OPT", "RH_SWC_WIDTH"))
        values = [norm.y_mean["RH"], norm.y_std["RH"], norm.x_mean[ta_max], norm.x_std[ta_max],
                  norm.x_mean[ta_range], norm.x_std[ta_range], norm.p_mean[q10], norm.p_std[q10],
                  norm.y_mean.get("SWC", float("nan")), norm.y_std.get("SWC", float("nan")),
                  norm.x_mean[fc], norm.x_std[fc], norm.p_mean[opt], norm.p_std[opt],
                  norm.p_mean[width], norm.p_std[width]]
        with torch.no_grad():
            self.rh_scales.copy_(torch.tensor([float(v) for v in values]))

    def _param_vectors(self, batch: int, params: torch.Tensor | None, dtype) -> torch.Tensor:
        """The parameter vectors (batch, n_params) in prior standard units: ``params`` or ``theta``."""
        return self.theta.expand(batch, -1) if params is None else params.to(dtype)

    def with_parameters(self, x: torch.Tensor, params: torch.Tensor | None = None,
                        time_major: bool = False) -> torch.Tensor:
        """``x`` with the parameter vector (the networks' part of it) appended to every day's inputs.

        x : (batch, days, n_inputs), or (days, batch, n_inputs) when ``time_major``;
        params : (batch, n_params) or None for ``theta``. Returns x unchanged when
        ``n_params`` is 0.
        """
        if not self.config.n_params:
            return x
        p = self._param_vectors(x.shape[1] if time_major else x.shape[0], params, x.dtype)
        if len(self._net_params) < p.shape[-1]:
            p = p[:, self._net_params]
        p = p.unsqueeze(0).expand(x.shape[0], -1, -1) if time_major else p.unsqueeze(1).expand(-1, x.shape[1], -1)
        return torch.cat([x, p], dim=-1)

    def rh_factor(self, x: torch.Tensor, params: torch.Tensor | None = None):
        """The temperature factor ``Q10 ** ((Ts - 20) / 10)`` of the "q10" read-out, (days, batch).

        x : (days, batch, n_inputs) standardised inputs (time-major, warm-up days first);
        params : (batch, n_params) prior standard units, or None for ``theta``.
        Ts is :func:`soil_temperature` of the daily mean air temperature
        ``TA_MAX - TA_RANGE / 2`` (degC); Q10 is floored at 1 (no decline with warmth).
        With ``rh_moisture`` a callable instead: ``factor(swc)`` of the model's
        standardised SWC (days, batch), the temperature factor times :meth:`_moisture`.
        """
        s = self.rh_scales
        if torch.isnan(s[:16 if self.config.rh_moisture else 8]).any():
            raise RuntimeError("rh_response='q10' needs the normalizer's scales: call use_normalizer(norm) "
                               "(KGMLTrainer does) or load weights that hold them")
        ta = (x[..., INPUTS.index("TA_MAX")] * s[3] + s[2]) - 0.5 * (x[..., INPUTS.index("TA_RANGE")] * s[5] + s[4])
        ts = soil_temperature(ta, self.config.soil_days)
        if self.config.n_params:
            q10_std = self._param_vectors(x.shape[1], params, x.dtype)[:, PARAM_NAMES.index("RH_Q10")]
        else:
            q10_std = x.new_zeros(x.shape[1])
        q10 = (q10_std * s[7] + s[6]).clamp_min(1.0)
        temperature = torch.exp(torch.log(q10) * (ts - 20.0) / 10.0)
        if not self.config.rh_moisture:
            return temperature
        p = self._param_vectors(x.shape[1], params, x.dtype)
        opt = p[:, PARAM_NAMES.index("RH_SWC_OPT")] * s[13] + s[12]
        width = (p[:, PARAM_NAMES.index("RH_SWC_WIDTH")] * s[15] + s[14]).clamp_min(0.05)
        fc = (x[..., INPUTS.index("FC")] * s[11] + s[10]).clamp_min(0.05)

        def factor(swc: torch.Tensor) -> torch.Tensor:
            relative = (swc * s[9] + s[8]) / 100.0 / fc          # SWC (%) as a fraction of field capacity
            return temperature * torch.exp(-((relative - opt) / width) ** 2)
        return factor

    def _rh_out(self, read: torch.Tensor, factor: torch.Tensor | None) -> torch.Tensor:
        """Standardised Rh from the Rh GRU's read-out: itself ("gru"), or the base at 20 degC times the factor.

        The base is ``softplus(read + c)`` g C m-2 d-1, ``c`` putting a zero read-out at the mean Rh.
        """
        if factor is None:
            return read
        mean, sd = self.rh_scales[0], self.rh_scales[1]
        offset = torch.log(torch.expm1(mean.clamp_min(1e-3)))
        return (nn.functional.softplus(read + offset) * factor - mean) / sd

    def forward(self, x: torch.Tensor, residue=None, params: torch.Tensor | None = None,
                time_major: bool = False, warmup: int = 0, yield_only: bool = False) -> dict[str, torch.Tensor]:
        """See the class docstring; ``time_major``: x (days, batch, n_inputs) and every daily tensor likewise.

        A batch-first input runs time-major inside (the GRU kernels work
        time-major: no transposed copy per GRU; the same values) and its daily
        outputs come back as batch-first views. ``yield_only``: only ``yield``
        and ``attention`` when the flux networks draw no random numbers (see
        :meth:`_fluxes_draw_random`; otherwise every output, so that a seeded
        run draws the same dropout masks either way).
        """
        if not 0 <= warmup < x.shape[0 if time_major else 1]:
            raise ValueError(f"warmup must leave scored days: {warmup} of {x.shape[0 if time_major else 1]} days")
        yield_only = yield_only and not self._fluxes_draw_random()
        factor = None
        if self.q10_factor and not yield_only:
            factor = self.rh_factor(x if time_major else x.transpose(0, 1), params)
        x = self.with_parameters(x, params, time_major)
        if time_major:
            return self._forward(x, residue, 0, warmup, yield_only, factor)
        out = self._forward(x.transpose(0, 1).contiguous(), _time_major(residue), 0, warmup, yield_only, factor)
        return {k: v.t() if v.ndim == 2 else v for k, v in out.items()}

    def _fluxes_draw_random(self) -> bool:
        """Whether the flux networks' forward draws from torch's generator (dropout between Rh layers, training)."""
        return self.training and self.rh_net.gru.dropout > 0

    def _forward(self, x: torch.Tensor, residue, day_axis: int, warmup: int = 0,
                 yield_only: bool = False, factor: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The forward on x (batch, days, features) (``day_axis=1``) or (days, batch, features) (``day_axis=0``);
        ``factor``: the "q10" read-out's temperature factor, (days, batch) whatever ``day_axis``."""
        if x.is_cuda:
            return self._forward_native(x, residue, day_axis, warmup, yield_only, factor)
        if day_axis == 1:
            out = self._forward_split(x.transpose(0, 1).contiguous(), _time_major(residue), warmup, yield_only,
                                      factor)
            return {k: v.t() if v.ndim == 2 else v for k, v in out.items()}
        return self._forward_split(x, residue, warmup, yield_only, factor)

    def _forward_split(self, x: torch.Tensor, residue, warmup: int = 0,
                       yield_only: bool = False, factor: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """CPU forward on a time-major x (days, batch, features): no concatenated inputs.

        Each flux GRU's input gates are summed from the pieces of its input
        (shared states, drivers, residue; Ra and Rh for the NEE network) times
        the matching columns of its input weights: the same values as the
        concatenation the weights were defined on, without copying it.
        """
        hid, n_in = self.config.hidden, x.shape[-1]
        h = self.drop(gru_time_major(self.shared, x))
        yield_, attention = self.yield_head(h[warmup:], 0)
        if yield_only:
            return {"yield": yield_, "attention": attention}
        swc = self.swc_head(h).squeeze(-1) if self.swc_head is not None else None
        factor = factor(swc) if callable(factor) else factor
        w = self.ra_net.gru.weight_ih_l0
        ra = self.ra_net.from_parts([(h, w[:, :hid]), (x, w[:, hid:])])
        if callable(residue):
            residue = residue(yield_, ra[warmup:])
        residue = _with_warmup(residue, warmup, 0)
        w = self.rh_net.gru.weight_ih_l0
        parts = [(h, w[:, :hid]), (x, w[:, hid:hid + n_in])]
        if residue is not None:                 # None: a zero residue input
            parts.append((residue.unsqueeze(-1), w[:, hid + n_in:]))
        rh = self._rh_out(self.rh_net.from_parts(parts), factor)
        w = self.nee_net.gru.weight_ih_l0
        nee = self.nee_net.from_parts([(torch.stack([ra, rh], -1), w[:, :2]), (x, w[:, 2:])])
        out = {"yield": yield_, "ra": ra[warmup:], "rh": rh[warmup:], "nee": nee[warmup:], "attention": attention}
        if swc is not None:
            out["swc"] = swc[warmup:]
        return out

    def _forward_native(self, x: torch.Tensor, residue, day_axis: int, warmup: int = 0,
                        yield_only: bool = False, factor: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The forward on concatenated inputs and the native GRU kernels (cuDNN on CUDA)."""
        run = gru_batch_first if day_axis == 1 else gru_time_major
        h = self.drop(run(self.shared, x))
        yield_, attention = self.yield_head(h.narrow(day_axis, warmup, h.shape[day_axis] - warmup), day_axis)
        if yield_only:
            return {"yield": yield_, "attention": attention}
        ra = self.ra_net(torch.cat([h, x], dim=-1), day_axis)
        scored = lambda v: v.narrow(day_axis, warmup, v.shape[day_axis] - warmup)   # noqa: E731
        swc = self.swc_head(h).squeeze(-1) if self.swc_head is not None else None
        if callable(factor):
            factor = factor(swc if day_axis == 0 else swc.t())
        if callable(residue):
            residue = residue(yield_, scored(ra))
        residue = x.new_zeros(x.shape[:2]) if residue is None else _with_warmup(residue, warmup, day_axis)
        rh = self.rh_net(torch.cat([h, x, residue.unsqueeze(-1)], dim=-1), day_axis)
        rh = self._rh_out(rh, None if factor is None else factor if day_axis == 0 else factor.t())
        nee = self.nee_net(torch.cat([ra.unsqueeze(-1), rh.unsqueeze(-1), x], dim=-1), day_axis)
        out = {"yield": yield_, "ra": scored(ra), "rh": scored(rh), "nee": scored(nee), "attention": attention}
        if swc is not None:
            out["swc"] = scored(swc)
        return out


def soil_temperature(ta: torch.Tensor, days: float) -> torch.Tensor:
    """A soil-temperature proxy (degC): air temperature smoothed exponentially along the days, (days, batch).

    Soil temperature near the surface follows air temperature with a lag and a
    damped amplitude of about a week at daily resolution: a first-order filter
    ``Ts[t] = Ts[t-1] + (TA[t] - Ts[t-1]) / days``, started at the first day's
    air temperature. Written as one matrix product with the filter's weights
    (lower triangular), no loop over days. ta : (days, batch) degC.
    """
    n = ta.shape[0]
    a = 1.0 / float(days)
    lag = torch.arange(n, dtype=ta.dtype, device=ta.device)
    lag = lag[:, None] - lag[None, :]
    zero = torch.zeros((), dtype=ta.dtype, device=ta.device)
    weights = torch.where(lag >= 0, a * (1 - a) ** lag.clamp_min(0), zero)
    weights[:, 0] = (1 - a) ** lag[:, 0]          # the start value carries the weight of the days before
    weights = torch.where(weights > 1e-30, weights, zero)   # no subnormal products
    return weights @ ta


def _with_warmup(residue, warmup: int, day_axis: int):
    """The scored days' residue input preceded by ``warmup`` days of its first (pre-harvest) value."""
    if residue is None or not warmup:
        return residue
    first = residue.narrow(day_axis, 0, 1)
    shape = list(residue.shape)
    shape[day_axis] = warmup
    return torch.cat([first.expand(shape), residue], dim=day_axis)


def _time_major(residue):
    """A batch-first residue (tensor or callable ``(yield, ra) -> residue``) for the time-major path."""
    if callable(residue):
        return lambda yield_, ra: residue(yield_, ra.t()).t()
    return residue.t() if residue is not None else None
