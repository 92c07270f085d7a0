"""Windows, support sets and input scaling of the TAM-RL family: index arithmetic over (unit, start day) pairs."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from kgml_core.tamrl.sites import SiteArrays


@dataclass
class Scaler:
    """Standardisation of inputs and targets, fitted on the training sites only.

    Attributes (after :meth:`fit`)
    ------------------------------
    x_mean, x_std : (n_dyn,) ; s_mean, s_std : (n_static,) ; y_mean, y_std : (3,) in g C m-2 d-1.
    One-hot class columns keep mean 0 and std 1 (left as 0/1 indicators).
    """

    x_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    x_std: np.ndarray = field(default_factory=lambda: np.zeros(0))
    s_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    s_std: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y_std: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, a: SiteArrays, n_one_hot: int = 0) -> "Scaler":
        """Fit on ``a`` (NaN ignored); the last ``n_one_hot`` static columns are not scaled."""
        self.x_mean, self.x_std = _mean_std(a.x.reshape(-1, a.x.shape[-1]))
        self.s_mean, self.s_std = _mean_std(a.s)
        if n_one_hot:
            self.s_mean[-n_one_hot:], self.s_std[-n_one_hot:] = 0.0, 1.0
        self.y_mean, self.y_std = _mean_std(a.y.reshape(-1, a.y.shape[-1]))
        return self

    def transform(self, a: SiteArrays) -> SiteArrays:
        """Scaled copy: inputs standardised with NaN set to 0 (the training mean); ``y`` stays physical."""
        x = np.nan_to_num((a.x - self.x_mean) / self.x_std).astype(np.float32)
        s = np.nan_to_num((a.s - self.s_mean) / self.s_std).astype(np.float32)
        return replace(a, x=x, s=s)

    def scale_y(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.y_mean) / self.y_std).astype(np.float32)

    def unscale_y(self, y: np.ndarray) -> np.ndarray:
        return (y * self.y_std + self.y_mean).astype(np.float32)

    def state(self) -> dict[str, list[float]]:
        """JSON-serialisable state (saved with every run)."""
        return {k: np.asarray(v, dtype=float).tolist() for k, v in self.__dict__.items()}


def _mean_std(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (absent statics) are expected
        mean = np.nanmean(values, axis=0) if values.size else np.zeros(values.shape[-1])
        std = np.nanstd(values, axis=0) if values.size else np.ones(values.shape[-1])
    mean = np.nan_to_num(mean).astype(np.float32)
    std = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0).astype(np.float32)
    return mean, std


# ---------------------------------------------------------------------------------------------
# windows
# ---------------------------------------------------------------------------------------------


def window_index(qc: np.ndarray, length: int = 30, stride: int = 15, loss_days: int = 15,
                 min_good: int = 1, qc_min: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """All windows of ``length`` days every ``stride`` days with observations in their loss part.

    Parameters
    ----------
    qc : (n_unit, n_time, k) quality fractions (0 where missing).
    length, stride : window length and step in days.
    loss_days : the loss is computed on the last ``loss_days`` days of a window.
    min_good : windows need at least this many days with ``qc >= qc_min`` (any flux)
        in their loss part.

    Returns
    -------
    (unit_idx, start) int arrays of equal length, sorted by unit then start.
    """
    n_unit, n_time = qc.shape[:2]
    if n_time < length:
        return np.zeros(0, int), np.zeros(0, int)
    starts = np.arange(0, n_time - length + 1, stride)
    good = (qc >= qc_min).any(axis=-1).astype(np.int32)                 # (unit, time)
    csum = np.concatenate([np.zeros((n_unit, 1), np.int32), np.cumsum(good, axis=1)], axis=1)
    n_good = csum[:, starts + length] - csum[:, starts + length - loss_days]  # (unit, n_start)
    unit_idx, k = np.nonzero(n_good >= min_good)
    return unit_idx.astype(int), starts[k].astype(int)


def tiling_starts(n_time: int, length: int = 30, stride: int = 15) -> np.ndarray:
    """Window starts whose last ``stride`` days tile ``[length - stride, n_time)`` (last one flush).

    Used to predict a whole series: the first ``length - stride`` days come
    from the first window's leading outputs.
    """
    if n_time < length:
        raise ValueError(f"series of {n_time} days is shorter than one window of {length} days")
    starts = np.arange(0, n_time - length + 1, stride)
    if starts[-1] != n_time - length:
        starts = np.append(starts, n_time - length)
    return starts


def gather(arr: np.ndarray, unit_idx: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    """Windows of a (n_unit, n_time, ...) array: (n_win, length, ...)."""
    days = start[:, None] + np.arange(length)[None, :]
    return arr[unit_idx[:, None], days]


def sample_support(unit_idx: np.ndarray, start: np.ndarray, length: int,
                   rng: np.random.Generator, pos: np.ndarray | None = None) -> np.ndarray:
    """For windows of a pool, the position of another window of the same unit that does not overlap.

    Parameters
    ----------
    unit_idx, start : the pool of windows, sorted by unit then start.
    length : window length in days (windows closer than this overlap).
    pos : positions in the pool of the query windows (default: every window).

    A unit whose windows all overlap the query falls back to its farthest
    window (never the query itself when the unit has two or more).

    Returns
    -------
    (n_query,) int positions into the pool.
    """
    pos = np.arange(len(unit_idx)) if pos is None else np.asarray(pos, dtype=int)
    u, st = unit_idx[pos], start[pos]
    first = np.searchsorted(unit_idx, u, side="left")
    count = np.searchsorted(unit_idx, u, side="right") - first
    cand = first + (rng.random(len(pos)) * count).astype(int)
    for _ in range(8):  # a few vectorised redraws; overlaps are rare for multi-month records
        bad = (np.abs(start[cand] - st) < length) & (count > 1)
        if not bad.any():
            return cand
        cand[bad] = first[bad] + (rng.random(bad.sum()) * count[bad]).astype(int)
    bad = np.abs(start[cand] - st) < length
    last = first + count - 1
    far = np.where(np.abs(start[first] - st) >= np.abs(start[last] - st), first, last)
    cand[bad] = far[bad]
    return cand


def fixed_support_start(qc: np.ndarray, time: np.ndarray, length: int = 30, month: int = 7,
                        qc_min: float = 0.5) -> np.ndarray:
    """Per unit, the start day of its few-shot support window.

    The first window starting on the 1st of ``month`` whose GPP is observed with
    good quality on at least half the days; failing that, the window with the
    most good days.

    Returns
    -------
    (n_unit,) int start indices.
    """
    n_unit, n_time = qc.shape[:2]
    good = (qc[..., 0] >= qc_min).astype(np.int32)
    csum = np.concatenate([np.zeros((n_unit, 1), np.int32), np.cumsum(good, axis=1)], axis=1)
    starts = np.arange(0, n_time - length + 1)
    n_good = csum[:, starts + length] - csum[:, starts]                 # (unit, n_start)
    days = time.astype("datetime64[D]")
    month_start = np.nonzero((days.astype("datetime64[M]").astype(int) % 12 + 1 == month)
                             & (days == days.astype("datetime64[M]")))[0]
    month_start = month_start[month_start < len(starts)]
    out = np.argmax(n_good, axis=1)
    if len(month_start):
        ok = n_good[:, month_start] >= length // 2
        has = ok.any(axis=1)
        out[has] = month_start[np.argmax(ok[has], axis=1)]
    return out.astype(int)


def first_observed_day(qc: np.ndarray) -> np.ndarray:
    """(n_unit,) index of each unit's first day with any observation (qc > 0); 0 when none."""
    seen = (qc > 0).any(axis=-1)
    return np.where(seen.any(axis=1), seen.argmax(axis=1), 0).astype(int)


def support_mask(qc: np.ndarray, time: np.ndarray, length: int, anchor: str = "midsummer",
                 year_days: int = 365) -> np.ndarray:
    """Few-shot support days of every unit, taken from its first year of record, (n_unit, n_time) bool.

    The first year starts at the unit's first observed day. ``length >= year_days``:
    that whole year; otherwise ``length`` days either from the record start
    (``anchor="start"``) or centred on the first 15 July of that year
    (``anchor="midsummer"``: a short support in the growing season says most
    about a site); ``length`` 0 gives no support (zero-shot).
    """
    if anchor not in ("midsummer", "start"):
        raise ValueError(f"anchor must be 'midsummer' or 'start', got {anchor!r}")
    n_unit, n_time = qc.shape[:2]
    mask = np.zeros((n_unit, n_time), bool)
    if length <= 0:
        return mask
    first = first_observed_day(qc)
    days = time.astype("datetime64[D]")
    mid_july = np.nonzero((days.astype("datetime64[M]").astype(int) % 12 == 6)
                          & ((days - days.astype("datetime64[M]")).astype(int) == 14))[0]
    for i, f in enumerate(first):
        if length >= year_days or anchor == "start":
            start = f
        else:
            inside = mid_july[(mid_july >= f) & (mid_july < f + year_days)]
            start = (int(inside[0]) if len(inside) else f + year_days // 2) - length // 2
        start = int(np.clip(start, f, max(f, f + year_days - length)))
        mask[i, start:min(start + min(length, year_days), n_time)] = True
    return mask


# ---------------------------------------------------------------------------------------------
# folds and weights
# ---------------------------------------------------------------------------------------------
