"""The CUDA path of the KGML experiment against its CPU path: agreement, a short training, the pull, speed.

Usage::

    .venv/bin/python benchmarks/bench_cuda.py [--parts agreement training pull speed] [--rounds 3] [--smoke] [--out cuda.json]

The checks (on CUDA when present, against the CPU on the same weights and inputs):

* agreement of the models the state-vs-global experiment builds (the parameter-conditioned KGML-ag
  emulator at the ``quick`` and ``full`` sizes, its "q10" read-out with soil water, the level-1
  GRU with attention) and of :func:`~kgml_core.models.fast_gru.gru_time_major`: outputs in
  inference (eval), outputs and every weight's gradient in training mode (dropout 0), float32,
  against the CPU path with the compiled GRU and with the pure-PyTorch loop; max absolute differences;
* a short training through :class:`~kgml_core.training.trainer.KGMLTrainer` with the device
  given (process fluxes on all groups, then towers and county yields with an L2-SP anchor),
  its predictions, :func:`~kgml_core.inference.predict_arrays` with the trained model;
* the pull of :mod:`kgml_core.training.pull` (leave-one-site-out and -year-out fold fits,
  the chosen pull) on each device from the same weights.

``speed``: side by side in one process, at the ``quick`` and ``full`` presets' model sizes, their
pretraining batch size and 365 + warm-up days: seconds per trainer epoch (a few batches of
``process_fluxes``, all groups: forward, losses, backward, Adam) and per forward + backward of
one batch, and seconds per epoch of a state's pull fold fits (18 fits of 80 towers-years, the
``full`` estimate's size), on the CPU with all its threads and with one, and on CUDA (cuDNN's default
TF32 and TF32 off). Each
contender is timed once per round, alternating the order; medians. Nothing is asserted: the
script prints figures, and says so when CUDA is absent (then only the CPU runs).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402

from kgml_core.experiments.state_vs_global import preset  # noqa: E402
from kgml_core.experiments.state_vs_global.training import _sizes  # noqa: E402
from kgml_core.features import DAYS, INPUTS, PARAM_NAMES  # noqa: E402
from kgml_core.models import build_model, gru_ext  # noqa: E402
from kgml_core.models.fast_gru import gru_time_major  # noqa: E402
from kgml_core.training.data import Normalizer, Samples, prior_mean, prior_std  # noqa: E402
from kgml_core.training.pull import choose_pull, fit_thetas  # noqa: E402
from kgml_core.training.trainer import KGMLTrainer, Source, StepConfig, residue_fn  # noqa: E402

ALL_GROUPS = ("shared", "yield", "ra", "rh", "nee")
CPU = torch.device("cpu")
PARTS = ("agreement", "training", "pull", "speed")


# --------------------------------------------------------------------------- synthetic data
def synthetic_samples(n: int, warmup: int = 182, units: int = 8, seed: int = 0) -> Samples:
    """``n`` unit-years whose fluxes obey the carbon balance and depend on the drivers and parameters.

    Drivers follow a seasonal cycle with noise per unit-year; GPP (g C m-2 d-1) follows the
    radiation in the growing season; Ra = 0.45 GPP; Rh grows with temperature by the sample's
    own Q10 (``params``, drawn from the prior); NEE = Ra + Rh - GPP. ``units`` towers/counties
    (``T0``, ``T1``, ...), years from 2001 on; ``warmup`` days of inputs before each year.
    """
    rng = np.random.default_rng(seed)
    days = np.arange(DAYS + warmup) - warmup
    cycle = np.sin((days - 110) / 365 * 2 * np.pi)
    season = np.clip(np.sin((days - 120) / 150 * np.pi), 0, None) * ((days >= 120) & (days < 270))
    x = rng.normal(0, 0.3, (n, DAYS + warmup, len(INPUTS))) + cycle[None, :, None] * rng.uniform(0.5, 1.5, (n, 1, 1))
    col = {k: INPUTS.index(k) for k in INPUTS}
    x[..., col["TA_MAX"]] = 15 + 12 * cycle + rng.normal(0, 2, (n, DAYS + warmup))
    x[..., col["TA_RANGE"]] = 10 + rng.normal(0, 1, (n, DAYS + warmup))
    x[..., col["FC"]] = rng.uniform(25, 40, (n, 1))
    gpp_all = 15 * season[None] * (1 + 0.2 * x[..., col["SW_IN"]])
    x[..., col["GPP"]] = gpp_all
    x = x.astype(np.float32)
    params = prior_mean() + prior_std() * rng.normal(0, 1, (n, len(PARAM_NAMES))).astype(np.float32)
    q10 = np.clip(params[:, PARAM_NAMES.index("RH_Q10")], 1.2, None)[:, None]
    ta = x[:, warmup:, col["TA_MAX"]] - 0.5 * x[:, warmup:, col["TA_RANGE"]]
    gpp = gpp_all[:, warmup:].astype(np.float32)
    ra = 0.45 * gpp
    rh = 1.5 * q10 ** ((ta - 20) / 10)
    daily = {"RA": ra, "RH": rh, "NEE": ra + rh - gpp, "RECO": ra + rh,
             "SWC": 30 + 5 * np.sin(days[warmup:] / 58.0)[None] + rng.normal(0, 1, (n, DAYS))}
    unit = np.array([f"T{i % units}" for i in range(n)])
    return Samples(
        x=x[:, warmup:], gpp=gpp, daily={k: v.astype(np.float32) for k, v in daily.items()},
        yield_=(0.3 * gpp.sum(1) + rng.normal(0, 20, n)).astype(np.float32),
        residue=np.full((n, DAYS), np.nan, np.float32), season=gpp > 0.5, weight=np.ones((n, DAYS), np.float32),
        unit=unit, state=np.where(np.arange(n) % units < units // 2, "IL", "IA"), county=unit,
        year=2001 + np.arange(n) // units, crop=np.zeros(n, int), params=params.astype(np.float32),
        warm=x[:, :warmup])


def sizes(name: str, model: str = "kgml_ag", **overrides) -> dict:
    """The model sizes the state-vs-global experiment builds for preset ``name`` (its ``_sizes``)."""
    return {**_sizes(preset(name), model), **overrides}


def pretrain_batch(name: str) -> int:
    """The preset's pretraining batch size (protocol step 2)."""
    return int(preset(name).protocol.step2.batch_size)


# --------------------------------------------------------------------------- agreement
def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().float().cpu() - b.detach().float().cpu()).abs().max())


def _run_model(model, x, gpp, params, norm, warmup, train: bool, weights: dict | None = None):
    """Outputs (and, with ``train``, the gradients of a fixed random projection of them) on x's device."""
    model.train(train)
    kgml = hasattr(model, "READS_WARMUP")
    args = (x, residue_fn(norm, gpp), params) if kgml else (x, None)
    with contextlib.nullcontext() if train else torch.no_grad():
        out = model(*args, warmup=warmup) if kgml else model(*args)
        out = {k: v for k, v in out.items()}
        grads = {}
        if train:
            model.zero_grad()
            loss = sum((v * weights[k].to(v.device)).sum() for k, v in out.items())
            loss.backward()
            grads = {n: p.grad.detach().cpu().clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach().cpu() for k, v in out.items()}, grads


def _cpu_paths():
    """The CPU paths to compare with: the compiled GRU (when built) and the pure-PyTorch loop."""
    paths = {"pytorch_loop": gru_ext.switched_off}
    if gru_ext.extension() is not None:
        paths = {"compiled_gru": contextlib.nullcontext, **paths}
    return paths


def model_agreement(name: str, model_sizes: dict, model_name: str, n: int, device: torch.device,
                    warmup: int = 182, seed: int = 0) -> dict:
    """Max absolute differences between ``device`` and each CPU path, same weights and inputs (float32)."""
    samples = synthetic_samples(n, warmup, seed=seed)
    norm = Normalizer.fit(samples)
    torch.manual_seed(seed)
    model = build_model(model_name, model_sizes)
    if hasattr(model, "use_normalizer"):
        model.use_normalizer(norm)
    trainer = KGMLTrainer(copy.deepcopy(model), norm, CPU)
    x = trainer._x(samples)
    gpp = torch.from_numpy(samples.gpp)
    params = torch.from_numpy(norm.scale_params(samples.params))
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        shapes = {k: v.shape for k, v in _run_model(model, x, gpp, params, norm, warmup, False)[0].items()}
    weights = {k: torch.randn(s, generator=gen) for k, s in shapes.items()}
    row = {"model": model_name, "sizes": model_sizes, "batch": n, "days": x.shape[1]}
    dev = copy.deepcopy(model).to(device)
    on = {mode: _run_model(dev, x.to(device), gpp.to(device), params.to(device), norm, warmup, mode == "train",
                           weights) for mode in ("eval", "train")}
    for path, ctx in _cpu_paths().items():
        with ctx():
            ref = {mode: _run_model(model, x, gpp, params, norm, warmup, mode == "train", weights)
                   for mode in ("eval", "train")}
        row[path] = {
            "eval_outputs": max(_max_abs(ref["eval"][0][k], on["eval"][0][k]) for k in ref["eval"][0]),
            "train_outputs": max(_max_abs(ref["train"][0][k], on["train"][0][k]) for k in ref["train"][0]),
            "gradients": max(_max_abs(ref["train"][1][p], on["train"][1][p]) for p in ref["train"][1]),
            "gradient_scale": max(float(g.abs().max()) for g in ref["train"][1].values()),
            "output_scale": max(float(v.abs().max()) for v in ref["eval"][0].values())}
    row["eval_backward_on_device"] = _eval_backward(dev, x.to(device), gpp.to(device), params.to(device), norm,
                                                    warmup)
    print(f"  {name:<28} " + "; ".join(f"{p}: out {r['eval_outputs']:.1e} (eval) {r['train_outputs']:.1e} "
                                        f"(train), grad {r['gradients']:.1e} of {r['gradient_scale']:.1e}"
                                        for p, r in row.items() if isinstance(r, dict) and "gradients" in r))
    return row


def _eval_backward(model, x, gpp, params, norm, warmup) -> str:
    """Whether a backward through the model in eval mode runs on this device ("ok" or the error)."""
    model.eval()
    kgml = hasattr(model, "READS_WARMUP")
    try:
        out = model(x, residue_fn(norm, gpp), params, warmup=warmup) if kgml else model(x, None)
        sum(v.sum() for v in out.values()).backward()
        return "ok"
    except RuntimeError as err:
        return f"error: {str(err).splitlines()[0]}"


def gru_agreement(device: torch.device, days: int = 547, batch: int = 64, seed: int = 0) -> dict:
    """:func:`gru_time_major` (2 layers, hidden 64) on ``device`` against the CPU paths: states and gradients."""
    torch.manual_seed(seed)
    gru = torch.nn.GRU(26, 64, num_layers=2)
    x = torch.randn(days, batch, 26)
    w = torch.randn(days, batch, 64)

    def run(module, inp):
        inp = inp.clone().requires_grad_(True)
        module.zero_grad()
        h = gru_time_major(module, inp)
        (h * w.to(h.device)).sum().backward()
        return h.detach().cpu(), [inp.grad.cpu()] + [p.grad.cpu() for p in module.parameters()]

    h_dev, g_dev = run(copy.deepcopy(gru).to(device), x.to(device))
    row = {}
    for path, ctx in _cpu_paths().items():
        with ctx():
            h_cpu, g_cpu = run(gru, x)
        row[path] = {"states": _max_abs(h_cpu, h_dev), "gradients": max(_max_abs(a, b) for a, b in zip(g_cpu, g_dev)),
                     "gradient_scale": max(float(g.abs().max()) for g in g_cpu)}
    print(f"  {'fast_gru.gru_time_major':<28} " + "; ".join(
        f"{p}: states {r['states']:.1e}, grad {r['gradients']:.1e} of {r['gradient_scale']:.1e}" for p, r in row.items()))
    return row


# --------------------------------------------------------------------------- training and the pull
def training_check(device: torch.device, n: int = 256, epochs: int = 5, size: str = "quick", seed: int = 0) -> dict:
    """A short training on ``device`` through the trainer: pretraining-like, then towers and yields with L2-SP."""
    samples = synthetic_samples(n, seed=seed)
    norm = Normalizer.fit(samples)
    torch.manual_seed(seed)
    trainer = KGMLTrainer(build_model("kgml_ag", sizes(size)), norm, device, seed=seed)
    t0 = time.perf_counter()
    pre = trainer.train_step("pretrain", [Source(samples, "process_fluxes")], ALL_GROUPS,
                             StepConfig(epochs=epochs, batch_size=64, lr=1e-2, cosine=True))
    anchor = trainer.state_dict()
    k = n // 8
    towers, yields = samples.subset(np.arange(k)), samples.subset(np.arange(k, 3 * k))
    fine = trainer.train_step("finetune", [Source(towers, "site_fluxes"), Source(yields, "county_yield")],
                              ("rh", "nee", "params"), StepConfig(epochs=2, batch_size=16, lr=1e-3, l2sp=1e-2),
                              anchor)
    pred = trainer.predict(samples.subset(np.arange(2 * k)))
    wall = time.perf_counter() - t0
    first, last = sum(pre.epochs[0].values()), sum(pre.epochs[-1].values())
    out = {"device": str(trainer.device), "samples": n, "epochs": epochs, "sizes": sizes(size),
           "pretrain_loss_per_epoch": [sum(e.values()) for e in pre.epochs], "loss_fell": last < first,
           "finetune_terms_last_epoch": fine.epochs[-1],
           "predictions_finite": bool(all(np.isfinite(v).all() for v in pred.values())),
           "parameters_on": sorted({str(p.device) for p in trainer.model.parameters()}), "wall_s": wall}
    out["predict_arrays"] = _predict_arrays(trainer, samples.subset(np.arange(2 * k)))
    print(f"  training on {out['device']}: loss per epoch {', '.join(f'{v:.3f}' for v in out['pretrain_loss_per_epoch'])}"
          f" (fell: {out['loss_fell']}); fine-tune {fine.epochs[-1]}; predictions finite: {out['predictions_finite']};"
          f" predict_arrays: {out['predict_arrays']}; {wall:.1f} s")
    return out


def _predict_arrays(trainer: KGMLTrainer, samples: Samples) -> str:
    """:func:`~kgml_core.inference.predict_arrays` with the trainer's model where it is, against a CPU copy
    of it: "ok" and the max abs difference (g C m-2 (d-1)), or the error."""
    from kgml_core.inference import predict_arrays
    try:
        pred = predict_arrays(trainer.model, samples.x, samples.gpp, trainer.norm, 32)
    except (RuntimeError, TypeError) as err:
        return f"error: {str(err).splitlines()[0]}"
    ref = predict_arrays(copy.deepcopy(trainer.model).cpu(), samples.x, samples.gpp, trainer.norm, 32)
    return f"ok, max abs diff to the CPU {max(float(np.abs(pred[k] - ref[k]).max()) for k in pred):.1e}"


def pull_check(devices: list[torch.device], size: str = "quick", epochs: int = 5, seed: int = 0) -> dict:
    """The pull (fold fits, validation, chosen pull) on each device from the same weights, dropout 0."""
    sites = synthetic_samples(24, units=4, seed=seed + 2)          # 4 towers x 6 years
    norm = Normalizer.fit(sites)
    torch.manual_seed(seed)
    base = build_model("kgml_ag", sizes(size, dropout=0.0))
    anchor = {k: v.clone() for k, v in base.state_dict().items()}
    cfg = StepConfig(epochs=epochs, lr=0.1, cosine=True, l2sp=1e-2, l2sp_grid=(1e-1, 1e-2, 1e-3), l2sp_grid_global=True,
                     l2sp_grid_folds="sites+years")
    out = {}
    for device in devices:
        trainer = KGMLTrainer(copy.deepcopy(base), norm, device, seed=seed)
        t0 = time.perf_counter()
        choice = choose_pull(trainer, sites, cfg, anchor)
        tensors = trainer.tensors(Source(sites, "site_fluxes"))
        thetas = fit_thetas(trainer, tensors, [np.arange(12), np.arange(12, 24)], [1e-2, 1e-3], cfg,
                            anchor["theta"])
        out[str(device)] = {"chosen": choice.to_dict()["chosen"], "fold_loss": choice.fold_loss,
                            "thetas": thetas.cpu().tolist(), "wall_s": time.perf_counter() - t0}
    names = list(out)
    if len(names) == 2:
        a, b = (out[k] for k in names)
        out["max_abs_diff"] = {"fold_loss": float(np.abs(np.array(a["fold_loss"]) - np.array(b["fold_loss"])).max()),
                               "thetas": float(np.abs(np.array(a["thetas"]) - np.array(b["thetas"])).max())}
    chosen = ", ".join(f"{k} {v['chosen']}" for k, v in out.items() if "chosen" in v)
    print(f"  pull: chosen {chosen}; differences {out.get('max_abs_diff', 'n/a (one device)')}")
    return out


# --------------------------------------------------------------------------- speed
def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of one call of ``fn`` (CUDA synchronised before and after)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def contenders(cuda: bool, threads: int, only: tuple[str, ...] = ()) -> dict[str, tuple[torch.device, int]]:
    """Name -> (device, torch threads): the CPU with all its threads and with one, CUDA when present (with
    cuDNN's default TF32 and with TF32 off: ``cuda_tf32_off``); ``only``: these names alone."""
    out = {f"cpu_{threads}_threads": (CPU, threads)} if threads > 1 else {}
    out["cpu_1_thread"] = (CPU, 1)
    if cuda:
        out["cuda"] = out["cuda_tf32_off"] = (torch.device("cuda"), threads)
    return {k: v for k, v in out.items() if not only or k in only}


def alternate(fns: dict[str, tuple[Callable[[], object], torch.device, int]], rounds: int) -> dict[str, list[float]]:
    """Each contender once per round (order reversed every other round) after an untimed warm-up; wall seconds."""
    names = list(fns)
    times = {k: [] for k in names}
    tf32 = torch.backends.cudnn.allow_tf32
    for r in range(-1, rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            fn, device, threads = fns[name]
            torch.set_num_threads(threads)
            torch.backends.cudnn.allow_tf32 = tf32 and not name.endswith("tf32_off")
            t = timed(fn, device)
            if r >= 0:
                times[name].append(t)
    torch.backends.cudnn.allow_tf32 = tf32
    return times


def speed(size: str, cuda: bool, threads: int, rounds: int, batches: int, smoke: bool = False,
          only: tuple[str, ...] = ()) -> dict:
    """Seconds per trainer epoch, per forward + backward of one batch and per pull fold-fit epoch, per contender."""
    batch = 8 if smoke else pretrain_batch(size)
    samples = synthetic_samples(batch * batches)
    norm = Normalizer.fit(samples)
    torch.manual_seed(0)
    base = build_model("kgml_ag", sizes(size))
    step = StepConfig(epochs=1, batch_size=batch, lr=1e-3)
    fits, per_fit = (3, 8) if smoke else (18, 80)
    sites = synthetic_samples(96, units=6, seed=3)
    rows = [np.random.default_rng(i).choice(96, per_fit, replace=False) for i in range(fits)]
    fit_cfg = StepConfig(epochs=1, lr=0.1, cosine=True, param_prior=1e-2)
    epoch, fwd_bwd, pull = {}, {}, {}
    for name, (device, n_threads) in contenders(cuda, threads, only).items():
        trainer = KGMLTrainer(copy.deepcopy(base), norm, device, seed=0)
        source = [Source(samples, "process_fluxes")]
        epoch[name] = (lambda t=trainer, s=source: t.train_step("bench", s, ALL_GROUPS, step), device, n_threads)
        data = {k: v[:batch].to(device) for k, v in trainer.tensors(source[0]).items()}
        fwd_bwd[name] = (lambda t=trainer, d=data: _forward_backward(t, d, step), device, n_threads)
        fit_trainer = KGMLTrainer(copy.deepcopy(base), norm, device, seed=0)
        fit_trainer.set_trainable(("params",))
        tensors = fit_trainer.tensors(Source(sites, "site_fluxes"))
        pull[name] = (lambda t=fit_trainer, d=tensors: fit_thetas(t, d, rows, [1e-2] * fits, fit_cfg,
                                                                    t.model.theta.detach()), device, n_threads)
    out = {"size": size, "sizes": sizes(size), "batch": batch, "days": DAYS + samples.warmup,
           "epoch_batches": batches, "pull_fits": fits, "pull_samples_per_fit": per_fit, "rounds": rounds}
    for what, fns in (("epoch_s", epoch), ("forward_backward_s", fwd_bwd), ("pull_epoch_s", pull)):
        times = alternate(fns, rounds)
        out[what] = {k: {"median": statistics.median(v), "all": v} for k, v in times.items()}
    torch.set_num_threads(threads)
    return out


def _forward_backward(trainer: KGMLTrainer, batch: dict, cfg: StepConfig) -> None:
    trainer.model.train()
    trainer.model.zero_grad()
    sum(trainer._loss("process_fluxes", batch, cfg, 1.0).values()).backward()


def speed_table(rows: list[dict]) -> str:
    """The speed figures as text: one line per size and measure, one column per contender."""
    names = list(rows[0]["epoch_s"])
    lines = [f"{'size':<7}{'measure':<44}" + "".join(f"{n:>16}" for n in names)]
    for r in rows:
        labels = {"epoch_s": f"trainer epoch, {r['epoch_batches']} batches of {r['batch']} x {r['days']} d (s)",
                  "forward_backward_s": f"forward + backward, batch {r['batch']} (s)",
                  "pull_epoch_s": f"pull fold fits, {r['pull_fits']} x {r['pull_samples_per_fit']} samples (s)"}
        for what, label in labels.items():
            lines.append(f"{r['size']:<7}{label:<44}" + "".join(f"{r[what][n]['median']:>16.3f}" for n in names))
    return "\n".join(lines)


# --------------------------------------------------------------------------- the run
def machine() -> dict:
    """Versions, cores, load, the compiled GRU's state and the CUDA device, if any."""
    ext = gru_ext.extension()
    info = {"torch": torch.__version__, "python": platform.python_version(), "cores": os.cpu_count(),
            "load_average": list(os.getloadavg()), "fused_gru_extension": ext is not None,
            "gru_kernels": ext.kernels() if ext is not None else "pytorch", "cuda": torch.cuda.is_available(),
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    if info["cuda"]:
        info.update(cuda_device=torch.cuda.get_device_name(0), cuda_version=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version(), cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                    matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
    return info


def guarded(what: str, fn: Callable[[], object]):
    """``fn()``, or on an exception its traceback (printed and returned as ``{"error": ...}``): one broken
    check on a device leaves the others running."""
    try:
        return fn()
    except Exception:                       # noqa: BLE001 - reported, never hidden
        err = traceback.format_exc()
        print(f"  {what} FAILED:\n{err}")
        return {"error": err}


def agreement(device: torch.device, smoke: bool) -> dict:
    """Agreement of the experiment's models and the fast GRU on ``device`` with the CPU paths."""
    n = 4 if smoke else 32
    print("agreement with the CPU (max abs difference, float32):")
    out = {"fast_gru": guarded("fast_gru", lambda: gru_agreement(device, days=60 if smoke else 547,
                                                                  batch=4 if smoke else 64))}
    variants = {"emulator_quick": ("kgml_ag", sizes("quick", dropout=0.0)),
                "emulator_full": ("kgml_ag", sizes("full", dropout=0.0)),
                "emulator_q10_swc_moisture": ("kgml_ag", sizes("quick", dropout=0.0, rh_response="q10",
                                                               swc_output=True, rh_moisture=True)),
                "no_knowledge_gru_attention": ("gru_attention", sizes("quick", "gru_attention", dropout=0.0))}
    for name, (model_name, model_sizes) in variants.items():
        out[name] = guarded(name, lambda: model_agreement(name, model_sizes, model_name, n, device))
    if device.type == "cuda" and torch.backends.cudnn.allow_tf32:
        torch.backends.cudnn.allow_tf32 = False      # how much of the difference is TF32 in cuDNN's RNN
        out["emulator_full_cudnn_tf32_off"] = guarded("tf32 off", lambda: model_agreement(
            "emulator_full (cuDNN TF32 off)", sizes("full", dropout=0.0), "kgml_ag", n, device))
        torch.backends.cudnn.allow_tf32 = True
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--sizes", nargs="+", default=["quick", "full"], choices=["quick", "full"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=4, help="batches per timed trainer epoch")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="the CPU contender's torch threads")
    parser.add_argument("--contenders", nargs="+", default=[],
                        help="time these alone (cpu_N_threads, cpu_1_thread, cuda, cuda_tf32_off); default all")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the script runs, figures mean nothing")
    parser.add_argument("--out", default=None, help="write the results to this JSON file")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    torch.set_num_threads(args.threads)
    result = {"machine": machine()}
    print(f"machine: {result['machine']}")
    if not cuda:
        print("CUDA ABSENT: torch sees no GPU; the checks run on the CPU against itself and the speed table "
              "has no CUDA column")
    device = torch.device("cuda" if cuda else "cpu")
    pull_devices = [CPU, device] if cuda else [CPU]
    runs = {"agreement": lambda: agreement(device, args.smoke),
            "training": lambda: training_check(device, n=32 if args.smoke else 256, epochs=2 if args.smoke else 5),
            "pull": lambda: pull_check(pull_devices, epochs=1 if args.smoke else 5),
            "speed": lambda: [speed(s, cuda, args.threads, args.rounds, args.batches, args.smoke, tuple(args.contenders))
                              for s in args.sizes]}
    for part in PARTS:
        if part in args.parts:
            print(f"-- {part}")
            result[part] = guarded(part, runs[part])
    if isinstance(result.get("speed"), list):
        print("speed (medians of wall seconds; CUDA synchronised):")
        print(speed_table(result["speed"]))
    result["machine"]["load_average_after"] = list(os.getloadavg())
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, default=str))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
