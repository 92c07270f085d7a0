"""A faster GRU on CPU: the same weights and outputs as ``nn.GRU``, its recurrence apart from its input projection.

Why: KGML-ag's GRUs are small (hidden 16-64) and run over 365 days, so on a CPU
the time goes into per-step overhead and memory traffic rather than arithmetic.
Profiled on one thread at the public sizes (hidden 64; batch 64 training,
1,024 inference):

* the native GRU's autograd records about ten operations per day and layer and
  its backward concatenates the gate gradients of every day one by one;
* the native cell applies ``tanh`` and ``sigmoid`` to strided gate slices (no
  vector code: ``tanh_`` alone was 10 % of inference) and copies every day's
  state into the output;
* the flux networks read ``cat([shared states, drivers])``: a copy of the whole
  (days, batch, features) input per network (``cat`` 13-17 % of inference).

So the work is split in two. :func:`input_gates` computes a layer's input
projection for all days at once as a sum of large matrix products over the
parts of its input (no concatenated copy; parts that need no gradient, such as
the drivers, get no input gradient). :func:`gru_recurrence` runs the recurrence
from those gates with five in-place operations per day on contiguous buffers
(pre-split views, no per-day indexing), and :class:`GRURecurrence` is its
hand-written backward: three operations per day, the gate derivatives that do
not depend on the incoming gradient computed for all days at once on
contiguous buffers, the recurrent weight gradient one large matrix product.

:func:`gru_time_major` runs an ``nn.GRU`` module (its weights as they are) on a
time-major input this way; on CUDA it calls the native kernel (cuDNN), which is
faster there.

When the compiled extension is built (:mod:`kgml_core.models.gru_ext`,
``csrc/gru_cpu.cpp``), :func:`gru_layer` runs a whole layer there instead
(:class:`FusedGRULayer`): the day loop in C++, the input gates of a chunk of
days per BLAS product (no all-days gate buffer), per day one product
``W_hh h`` and ONE fused, vectorised element-wise pass (forward: r, z, n and
h; backward: the gate derivatives), the weight and input gradients large
products. Without the build (or with ``KGML_GRU_EXT=0``) the pure-PyTorch
path below runs (the same values to float rounding; one log line says so).

On a CPU with AVX-512 (float32, hidden sizes a multiple of 16) inference goes further
(:func:`_fused_inference`, :func:`series_from_parts`, :func:`tanh_score`): a whole GRU
stack per call, products and gates in registers per tile of 6 rows x 16 units, rows in
blocks over all days, read-outs and the attention score fused, so no (T, B, 3H) gate
and almost no (T, B, H) state buffers are written (docs/scaling.md, fourth round).
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kgml_core.models.gru_ext import extension


def input_gates(bias: torch.Tensor, parts: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """A GRU layer's input gates ``bias + sum_i parts_i[0] @ parts_i[1].T`` for all days.

    bias : (3H,) input bias ``b_ih``; parts : pairs of an input piece (T, B, k_i)
    and the matching columns of ``W_ih`` (3H, k_i). Returns (T, B, 3H).
    Equal to ``cat(pieces) @ W_ih.T + b_ih`` without building the concatenation.
    """
    first, w = parts[0]
    steps, batch = first.shape[:2]
    gates = torch.addmm(bias, first.reshape(steps * batch, -1), w.t())
    for piece, w in parts[1:]:
        gates = gates.addmm_(piece.reshape(steps * batch, -1), w.t())
    return gates.view(steps, batch, -1)


def _run(gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, keep: bool):
    """The recurrence from gates ``gi`` (T, B, 3H); returns states (T+1, B, H) (zero first) and, with ``keep``,
    the buffers the backward needs: sigmoid(r), sigmoid(z) (T, B, 2H), tanh(n) (T, B, H), ``W_hh h + b_hh`` (T, B, 3H).
    """
    steps, batch, three_hid = gi.shape
    hid = three_hid // 3
    hs = gi.new_empty(steps + 1, batch, hid)
    hs[0].zero_()
    kept = steps if keep else 1                    # without keep, one day's scratch (stays in cache)
    rz = gi.new_empty(kept, batch, 2 * hid)
    n = gi.new_empty(kept, batch, hid)
    gh = gi.new_empty(kept, batch, three_hid)
    w_hh_t = w_hh.t()
    gi_rz, gi_n, h_t = gi[..., :2 * hid].unbind(0), gi[..., 2 * hid:].unbind(0), hs.unbind(0)
    rz_t, r_t, z_t, n_t = rz.unbind(0), rz[..., :hid].unbind(0), rz[..., hid:].unbind(0), n.unbind(0)
    gh_t, gh_rz, gh_n = gh.unbind(0), gh[..., :2 * hid].unbind(0), gh[..., 2 * hid:].unbind(0)
    minus_one = gi.new_full((batch, hid), -1.0)
    for t in range(steps):
        s = t if keep else 0
        torch.addmm(b_hh, h_t[t], w_hh_t, out=gh_t[s])
        torch.add(gi_rz[t], gh_rz[s], out=rz_t[s]).sigmoid_()
        # tanh(v) = 2 sigmoid(2 v) - 1: torch's tanh has no vector code here (3-6x slower than sigmoid)
        torch.addcmul(gi_n[t], r_t[s], gh_n[s], out=n_t[s]).mul_(2.0).sigmoid_()
        torch.add(minus_one, n_t[s], alpha=2.0, out=n_t[s])
        torch.lerp(n_t[s], h_t[t], z_t[s], out=h_t[t + 1])
    return hs, rz, n, gh


class GRURecurrence(torch.autograd.Function):
    """One GRU layer's recurrence from its input gates, zero initial state, gates in PyTorch's order (r, z, n).

    forward(gi (T, B, 3H) = x W_ih^T + b_ih, w_hh (3H, H), b_hh (3H,)) -> h (T, B, H).
    """

    @staticmethod
    def forward(ctx, gi, w_hh, b_hh):
        hs, rz, n, gh = _run(gi, w_hh, b_hh, keep=True)
        ctx.save_for_backward(w_hh, hs, rz, n, gh)
        return hs[1:]

    @staticmethod
    def backward(ctx, d_out):
        w_hh, hs, rz, n, gh = ctx.saved_tensors
        steps, batch, hid = d_out.shape
        # gate derivatives that do not depend on the incoming gradient, all days at once, contiguous
        r, z = rz[..., :hid].contiguous(), rz[..., hid:].contiguous()
        one_minus_z = 1.0 - z
        a = torch.mul(n, n).neg_().add_(1.0).mul_(one_minus_z)          # d h / d (pre-activation of n)
        k = hs.new_empty(steps, batch, 3, hid)                           # d h / d (W_hh h + b_hh), per gate
        k_r, k_z, k_n = k.unbind(2)
        torch.mul(a, r, out=k_n)
        torch.mul(k_n, gh[..., 2 * hid:], out=k_r).mul_(1.0 - r)
        torch.sub(hs[:-1], n, out=k_z).mul_(z).mul_(one_minus_z)
        # the recurrence: d_h[t] is the total gradient of h[t]; d_gh[t] = k[t] * d_h[t]
        d_h = d_out.contiguous().clone()
        d_gh = hs.new_empty(steps, batch, 3, hid)
        d_h_t, d_h_u, z_t = d_h.unbind(0), d_h.unsqueeze(2).unbind(0), z.unbind(0)
        k_t, d_gh_t, d_gh_flat = k.unbind(0), d_gh.unbind(0), d_gh.view(steps, batch, 3 * hid).unbind(0)
        for t in range(steps - 1, -1, -1):
            torch.mul(k_t[t], d_h_u[t], out=d_gh_t[t])
            if t > 0:
                d_h_t[t - 1].addcmul_(d_h_t[t], z_t[t]).addmm_(d_gh_flat[t], w_hh)
        d_gh = d_gh.view(steps * batch, 3 * hid)
        d_w_hh = d_gh.t() @ hs[:-1].reshape(steps * batch, hid) if ctx.needs_input_grad[1] else None
        d_b_hh = d_gh.sum(0) if ctx.needs_input_grad[2] else None
        if not ctx.needs_input_grad[0]:
            return None, d_w_hh, d_b_hh
        # the input gates' gradients differ from d_gh only in the new gate: overwrite it in place
        d_gi = d_gh.view(steps, batch, 3 * hid)
        torch.mul(d_h, a, out=d_gi[..., 2 * hid:])
        return d_gi, d_w_hh, d_b_hh


def gru_recurrence(gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """Hidden states (T, B, H) of one GRU layer from its input gates gi (T, B, 3H) (``b_ih`` included).

    Uses :class:`GRURecurrence` when a gradient is needed, the same loop without
    saving anything otherwise.
    """
    if torch.is_grad_enabled() and (gi.requires_grad or w_hh.requires_grad or b_hh.requires_grad):
        return GRURecurrence.apply(gi, w_hh, b_hh)
    return _run(gi, w_hh, b_hh, keep=False)[0][1:]


class FusedGRULayer(torch.autograd.Function):
    """One GRU layer in the compiled extension: input projection, recurrence and their backward.

    forward(b_ih (3H,), w_hh (3H, H), b_hh (3H,), x_0, w_0, x_1, w_1, ...) -> h (T, B, H), where the
    input is the concatenation of the pieces x_i (T, B, k_i) and w_i (3H, k_i) are the matching
    columns of ``W_ih``. Per day the C++ loop computes the day's input gates and ``W_hh h`` (BLAS)
    and one fused element-wise pass; nothing of size (T, B, 3H) is kept. The backward gets the
    gates' gradients from the C++ loop, then the input-weight and input gradients as large products.
    """

    @staticmethod
    def forward(ctx, b_ih, w_hh, b_hh, *parts):
        xs = [x.contiguous() for x in parts[0::2]]
        ws = [w.contiguous() for w in parts[1::2]]
        saved = extension().forward(xs, ws, b_ih.contiguous(), w_hh.contiguous(), b_hh.contiguous(), True)
        ctx.save_for_backward(w_hh.contiguous(), *saved, *xs, *ws)
        ctx.n_parts = len(xs)
        return saved[0][1:]

    @staticmethod
    def backward(ctx, d_out):
        w_hh, hs, r, z, n, ghn, *rest = ctx.saved_tensors
        xs, ws = rest[:ctx.n_parts], rest[ctx.n_parts:]
        need = ctx.needs_input_grad
        d_gi, d_w_hh, d_b_hh = extension().backward(d_out.contiguous(), w_hh, hs, r, z, n, ghn, True,
                                                    need[1] or need[2])
        steps, batch, three_hid = d_gi.shape
        d_flat = d_gi.view(steps * batch, three_hid)
        grads = [d_flat.sum(0) if need[0] else None, d_w_hh if need[1] else None, d_b_hh if need[2] else None]
        for i, (x, w) in enumerate(zip(xs, ws)):
            x_flat = x.view(steps * batch, -1)
            grads.append((d_flat @ w).view(x.shape) if need[3 + 2 * i] else None)
            grads.append(d_flat.t() @ x_flat if need[4 + 2 * i] else None)
        return tuple(grads)


def _extension_for(t: torch.Tensor):
    """The compiled GRU for CPU float32/float64 tensors, else None (the PyTorch loop)."""
    if t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64):
        return None
    return extension()


def gru_layer(parts: Sequence[tuple[torch.Tensor, torch.Tensor]], b_ih: torch.Tensor, w_hh: torch.Tensor,
              b_hh: torch.Tensor) -> torch.Tensor:
    """Hidden states (T, B, H) of one GRU layer (zero initial state) whose input is ``cat(pieces)``.

    parts : pairs of an input piece (T, B, k_i) and the matching columns of ``W_ih`` (3H, k_i).
    The compiled extension when it is built (:class:`FusedGRULayer`, or its loop without saving
    anything when no gradient is needed), else :func:`input_gates` and :func:`gru_recurrence`.
    """
    ext = _extension_for(parts[0][0])
    if ext is None:
        return gru_recurrence(input_gates(b_ih, parts), w_hh, b_hh)
    flat = [t for pair in parts for t in pair]
    if torch.is_grad_enabled() and any(t.requires_grad for t in [b_ih, w_hh, b_hh, *flat]):
        return FusedGRULayer.apply(b_ih, w_hh, b_hh, *flat)
    xs = [x.contiguous() for x, _ in parts]
    ws = [w.contiguous() for _, w in parts]
    return ext.forward(xs, ws, b_ih.contiguous(), w_hh.contiguous(), b_hh.contiguous(), False)[0][1:]


def fused() -> bool:
    """Whether the compiled GRU is in use on CPU (logs once why not)."""
    return extension() is not None


def _fused_inference(gru: nn.GRU, parts: Sequence[tuple[torch.Tensor, torch.Tensor]],
                     out: nn.Linear | None = None) -> torch.Tensor | None:
    """The whole stack by the extension's fused AVX-512 inference step, or None when it cannot run it.

    It runs when no gradient is needed, no dropout is active, the tensors are CPU float32, the hidden
    size is a multiple of 16 and the CPU has AVX-512 (``gru_ext``'s ``kernels() == 'avx512'``).
    Returns the last layer's states (T, B, H), or with ``out`` its read-out ``out(states)[..., 0]`` (T, B)
    without keeping the states.
    """
    ext = _extension_for(parts[0][0])
    if ext is None or parts[0][0].dtype != torch.float32 or (gru.training and gru.dropout > 0):
        return None
    flat = [t for pair in parts for t in pair] + list(gru.parameters())
    if out is not None:
        if out.bias is None or out.out_features != 1:
            return None
        flat += [out.weight, out.bias]
    if torch.is_grad_enabled() and any(t.requires_grad for t in flat):
        return None
    w_ih, w_hh, b_ih, b_hh = gru.all_weights[0]
    upper = [t.contiguous() for layer in gru.all_weights[1:] for t in (layer[0], layer[2], layer[1], layer[3])]
    return ext.infer([x.contiguous() for x, _ in parts], [w.contiguous() for _, w in parts], b_ih.contiguous(),
                     w_hh.contiguous(), b_hh.contiguous(), upper,
                     None if out is None else out.weight, None if out is None else out.bias)


def series_from_parts(gru: nn.GRU, out: nn.Linear, parts: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """``out(states)[..., 0]`` (T, B) of :func:`gru_from_parts`'s states: one daily series per sequence.

    In inference on an AVX-512 CPU the read-out runs inside the fused step (no (T, B, H) states kept).
    """
    fused = _fused_inference(gru, parts, out)
    if fused is not None:
        return fused
    return out(gru_from_parts(gru, parts)).squeeze(-1)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout(x, p, training)``: the same values, gradient and use of torch's default generator, faster on CPU.

    Why: torch's CPU dropout draws its Bernoulli mask one element at a time through a generic
    kernel (about 6 ns per element, 80 % of the dropout; the dropout of KGML-ag's shared states
    was a tenth of a ``quick`` run's training). The extension's ``bernoulli_noise`` runs the same
    Mersenne twister on the default generator's own state in vectorised loops, so a seeded run
    draws the same masks and leaves the generator where torch would (tested bit for bit);
    the product ``x * noise`` is torch's, as in its dropout. Other cases (no extension, not a
    contiguous CPU float32 tensor, p outside (0, 1)) call ``F.dropout``.
    """
    if not training or p == 0:
        return x
    if _REPLAY is not None:
        return _REPLAY.apply(x, p)
    ext = _extension_for(x)
    if ext is None or x.dtype != torch.float32 or not x.is_contiguous() or not 0 < p < 1:
        return F.dropout(x, p, training=True)
    noise = ext.bernoulli_noise(torch.empty_like(x), 1 - p, _noise_scale(p))
    return x * noise


class DropoutReplay:
    """The dropout masks of one time-major batch of ``total`` samples, served to parts of its rows.

    Within :func:`replayed_dropout`, the k-th :func:`dropout` of a forward on rows
    ``start:stop`` of the batch (set by :meth:`select`, batch on axis 1: every dropout of
    the time-major CPU path) returns ``x`` times rows ``start:stop`` of the k-th mask the
    whole batch would have drawn; each mask is drawn, whole, at its first use, so the
    masks and the generator's state are those of one forward on the whole batch
    (each part must make the same dropout calls, in the same order). Masks are kept as
    booleans (a quarter of the noise's memory): the kept value is the scale dropout uses.
    """

    def __init__(self, total: int):
        self.total = int(total)
        self.masks: list[tuple[torch.Tensor, float]] = []
        self.rows = slice(0, self.total)
        self.calls = 0

    def select(self, start: int, stop: int) -> None:
        """The rows of the batch that the next forward runs on (its dropout calls count from the first again)."""
        self.rows, self.calls = slice(int(start), int(stop)), 0

    def apply(self, x: torch.Tensor, p: float) -> torch.Tensor:
        rows = self.rows.stop - self.rows.start
        if x.dim() < 2 or x.shape[1] != rows:
            raise ValueError(f"replayed dropout expects time-major (T, {rows}, ...) tensors, got {tuple(x.shape)}")
        if self.calls == len(self.masks):
            global _REPLAY
            _REPLAY, replay = None, self                      # draw the whole batch's noise as dropout would
            try:
                noise = dropout(torch.ones((x.shape[0], self.total, *x.shape[2:]), dtype=x.dtype), p)
            finally:
                _REPLAY = replay
            self.masks.append((noise != 0, _noise_scale(p)))
        mask, scale = self.masks[self.calls]
        self.calls += 1
        noise = torch.where(mask[:, self.rows], torch.tensor(scale, dtype=x.dtype), torch.tensor(0.0, dtype=x.dtype))
        return x * noise


_REPLAY: DropoutReplay | None = None


@contextlib.contextmanager
def replayed_dropout(total: int) -> Iterator[DropoutReplay]:
    """Run the forwards of parts of one batch of ``total`` samples with the whole batch's dropout masks
    (see :class:`DropoutReplay`): the same random draws as one forward on the whole batch."""
    global _REPLAY
    previous, _REPLAY = _REPLAY, DropoutReplay(total)
    try:
        yield _REPLAY
    finally:
        _REPLAY = previous


def _noise_scale(p: float) -> float:
    """The kept elements' noise value of torch's dropout: ``1 / (1 - p)`` as its float32 division gives it."""
    return torch.ones(1).div_(1 - p).item()


class Dropout(nn.Dropout):
    """``nn.Dropout`` by :func:`dropout` (no parameters: checkpoints are unchanged)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training) if not self.inplace else super().forward(x)


def gru_from_parts(gru: nn.GRU, parts: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """States (T, B, H) of the last layer of ``gru`` given its first layer's input as pieces.

    parts : pairs (piece (T, B, k_i), columns of the first layer's ``W_ih`` (3H, k_i)).
    Dropout between layers as ``gru`` applies it when it is training.
    In inference on an AVX-512 CPU the whole stack runs in the fused step (:func:`_fused_inference`).
    """
    fused = _fused_inference(gru, parts)
    if fused is not None:
        return fused
    w_ih, w_hh, b_ih, b_hh = gru.all_weights[0]
    out = gru_layer(parts, b_ih, w_hh, b_hh)
    for layer in range(1, gru.num_layers):
        if gru.training and gru.dropout > 0:
            out = dropout(out, gru.dropout)
        w_ih, w_hh, b_ih, b_hh = gru.all_weights[layer]
        out = gru_layer([(out, w_ih)], b_ih, w_hh, b_hh)
    return out


class _FusedTanh(torch.autograd.Function):
    """tanh by the extension's vectorised kernel; backward ``g (1 - y^2)`` as torch's."""

    @staticmethod
    def forward(ctx, x):
        y = extension().tanh(x.contiguous())
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1.0 - y * y)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """``torch.tanh(x)`` (to float rounding): on CPU by the extension's vectorised kernel when it is built.

    Why: torch's CPU ``tanh`` ran at a sixth of ``sigmoid``'s rate here; the attention scores of
    KGML-ag's yield head apply it to every (day, unit, hidden) value (9 % of inference).
    """
    if _extension_for(x) is None:
        return torch.tanh(x)
    if torch.is_grad_enabled() and x.requires_grad:
        return _FusedTanh.apply(x)
    return extension().tanh(x.contiguous())


class Tanh(nn.Module):
    """``nn.Tanh`` by :func:`tanh` (no parameters: checkpoints are unchanged)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tanh(x)


def tanh_score(score: nn.Sequential, h: torch.Tensor) -> torch.Tensor:
    """``score(h)[..., 0]`` for ``score = Sequential(Linear(K, N), Tanh, Linear(N, 1))``: h (..., K) -> (...).

    In inference on an AVX-512 CPU one fused pass (``gru_ext``'s ``score``): the (..., N) hidden layer is
    never written (at batch 1,024 it was two 96 MB tensors and a tenth of KGML-ag's inference).
    """
    first, _, last = score
    ext = _extension_for(h)
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (h, *score.parameters()))
    if ext is not None and h.dtype == torch.float32 and not needs_grad and first.bias is not None \
            and last.bias is not None and last.out_features == 1:
        s = ext.score(h, first.weight.contiguous(), first.bias, last.weight.contiguous(), last.bias)
        if s is not None:
            return s
    return score(h).squeeze(-1)


def _check(gru: nn.GRU) -> None:
    if gru.bidirectional or not gru.bias:
        raise ValueError("the fast GRU supports unidirectional GRUs with biases only")


def gru_native(gru: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """The native kernel (cuDNN on CUDA) for a time-major x (T, B, F) -> last layer's states (T, B, H).

    cuDNN's GRU has no backward in eval mode ("cudnn RNN backward can only be called in training
    mode", seen on an H200): a gradient through a module in eval mode (an estimate without dropout,
    a sensitivity) runs torch's own CUDA kernel instead, as the CPU path allows it.
    """
    h0 = x.new_zeros(gru.num_layers, x.shape[1], gru.hidden_size)
    weights = [w for layer in gru.all_weights for w in layer]
    eval_grad = x.is_cuda and not gru.training and torch.is_grad_enabled() \
        and (x.requires_grad or any(w.requires_grad for w in weights))
    with torch.backends.cudnn.flags(enabled=False) if eval_grad else contextlib.nullcontext():
        return torch.gru(x, h0, weights, True, gru.num_layers,
                         gru.dropout if gru.training else 0.0, gru.training, False, False)[0]


def gru_time_major(gru: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """Hidden states of the last layer of ``gru`` (zero initial state) for x (T, B, F) -> (T, B, H).

    The same values as ``gru`` (in its time-major form) computes, dropout between
    layers included when the module is training. The native kernel on CUDA.
    """
    _check(gru)
    if x.is_cuda:
        return gru_native(gru, x)
    return gru_from_parts(gru, [(x, gru.all_weights[0][0])])


def gru_batch_first(gru: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """:func:`gru_time_major` for a batch-first input: x (B, T, F) -> (B, T, H), the values of ``gru(x)[0]``."""
    return gru_time_major(gru, x.transpose(0, 1)).transpose(0, 1)
