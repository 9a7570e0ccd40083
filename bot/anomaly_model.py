"""The causal cost model behind ``bot.anomaly``: expected cost, residual and scale per day.

Works on a 2-D array ``values[series, day]`` (NaN before a series' first day, a cost after it)
and is causal: what it computes for day ``t`` reads the costs of days ``< t`` only (the day's
own cost enters its residual, never its baseline or scale), so the results for a prefix of the
days do not depend on the days after it. Everything is vectorised across series and days.

Expected cost of day t, ``profile(t) x level(t)`` (multiplicative weekly seasonality):

* ``share(u) = cost(u) / median day of the week centred on u``: the shape of the week, which
  a level shift or a trend does not change; a fee or a spike in the week moves only its own
  day (a quarter of the week's mean is the floor of the reference, for mostly idle weeks);
* ``profile(t)``: median of the shares of the same weekday 1 to 5 weeks back (days <= t - 4),
  shrunk towards flat by the spread of those shares, so that noise is not taken for
  seasonality (with fewer than three weeks known, by an assumed spread: only strong weekday
  effects count);
* ``level(t)``: mean of two medians of the de-seasonalised cost ``cost(u) / profile(u)``, over
  days t-7..t-1 and t-14..t-8: a spike of up to 3 days does not move it, a trend leaves it about
  a week behind, a level shift becomes the new normal after 4 to 11 days.

Residual: ``log(cost + c) - log(expected + c)`` with a cushion ``c`` of a tenth of the level:
cost noise is multiplicative and heavy-tailed upwards, and the cushion keeps days near zero from
producing huge ratios. Scale: median of the weekly medians of |residual| over the last five
weeks (x 1.4826: a normal sigma), renewed every Monday; a run of anomalous days moves it only
once it fills half of those weeks. A young series gets a wide scale, never a lucky narrow one.

Medians are taken with comparator networks (``np.minimum`` / ``np.maximum`` on whole arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Sorting networks (pairs of lanes, the smaller value goes to the first); _order_stats prunes
# them to the outputs it needs.
_SORT5 = ((0, 3), (1, 4), (0, 2), (1, 3), (0, 1), (2, 4), (1, 2), (3, 4), (2, 3))
_SORT7 = ((0, 6), (2, 3), (4, 5), (0, 2), (1, 4), (3, 6), (0, 1), (2, 5), (3, 4), (1, 2),
          (4, 6), (2, 3), (4, 5), (1, 2), (3, 4), (5, 6))
_F32 = np.float32


@dataclass(frozen=True)
class Tuning:
    """Constants of the model that are not user-facing gates (chosen on benchmark seeds 1-3)."""

    sustained_fraction: float = 0.5  # two days in a row at this share of min_score alert too
    continue_fraction: float = 0.5  # an episode goes on while days pass the gates at this share
    quiet_days: int = 7  # days below that which end an episode
    week_mean_share: float = 0.25  # a week's reference day is at least this share of its mean
    profile_shrink: float = 0.5  # weekday effects smaller than this x their spread are noise
    first_week_spread: float = 0.6  # the spread assumed while fewer than 3 weeks are known
    min_profile: float = 0.1  # weekdays with a smaller profile do not inform the level
    cushion: float = 0.1  # residuals compare log(cost + cushion x level)
    cushion_min: float = 0.01  # and the cushion is at least this many currency units
    scale_floor: float = 0.03  # the scale of log residuals is at least this (~3%)
    min_residuals: int = 5  # residuals needed before a day can be judged
    warmup: float = 8.0  # the scale is widened by warmup / residuals seen (at most 35)


DEFAULT_TUNING = Tuning()


@dataclass(frozen=True)
class Model:
    """Per series and day (float32): expected cost without recurring charges, the residual of
    the day, the scale of the residuals before it (NaN until known), and the cushion."""

    expected: np.ndarray
    residual: np.ndarray
    scale: np.ndarray
    cushion: np.ndarray
    first: np.ndarray  # per series: index of its first day (the width when it has none)


def first_days(values: np.ndarray) -> np.ndarray:
    """Index of each series' first day with data (the number of days when it has none)."""
    seen = ~np.isnan(values)
    return np.where(seen.any(axis=1), np.argmax(seen, axis=1), values.shape[1])


def model(values: np.ndarray, tuning: Tuning = DEFAULT_TUNING, anchor: int = 0) -> Model:
    """The model of a block of series (see the module docstring); ``anchor`` is a column that
    starts a week (the scale is renewed weekly, on the same weekday whatever the frame)."""
    x = values.astype(_F32)
    n, days = x.shape
    first = first_days(values)
    column = np.arange(days)[None, :]

    share = np.full((n, days), np.nan, _F32)
    if days >= 7:
        total = np.zeros((n, days + 1), _F32)
        np.cumsum(np.nan_to_num(x), axis=1, out=total[:, 1:])
        mean = (total[:, 7:] - total[:, :-7]) * _F32(1 / 7)
        coded = _coded(x)
        median = _order_stats([coded[:, i: days - 6 + i] for i in range(7)], _SORT7, (3,))[0]
        ref = np.maximum(median, mean * _F32(tuning.week_mean_share))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = x[:, 3: days - 3] / ref
        # A week with no (or negative) spend has no shape: call it flat.
        ratio[~(ref > 1e-9)] = 1.0
        ratio[column[:, 3: days - 3] < first[:, None] + 3] = np.nan  # week not fully seen
        share[:, 3: days - 3] = ratio

    low, mid, high = _order_stats(_lagged(share, (7, 14, 21, 28, 35)), _SORT5, (1, 2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = high - low
        spread[~np.isfinite(spread)] = tuning.first_week_spread
        deviation = mid - _F32(1.0)
        shrunk = np.maximum(np.abs(deviation) - _F32(tuning.profile_shrink) * spread, _F32(0))
        profile = np.where(np.isfinite(mid), _F32(1.0) + np.copysign(shrunk, deviation), np.nan)
        level_days = np.where(profile >= tuning.min_profile, x / profile, np.nan)
    recent = _median(_lagged(level_days, range(1, 8)), _SORT7)
    before = _shifted(recent, 7)
    level = np.where(np.isnan(before), recent,
                     np.where(np.isnan(recent), before, (recent + before) * _F32(0.5)))
    expected = profile * level

    cushion = np.nan_to_num(np.abs(level)) * _F32(tuning.cushion) + _F32(tuning.cushion_min)
    with np.errstate(invalid="ignore"):
        residual = np.log(np.maximum(x + cushion, cushion) / np.maximum(expected + cushion,
                                                                         cushion))
    return Model(expected, residual, _scale(residual, anchor, tuning), cushion, first)


def _scale(residual: np.ndarray, anchor: int, tuning: Tuning) -> np.ndarray:
    """Scale of the residuals before each day, renewed at each week boundary (the columns
    ``anchor + 7k``) from the weekly medians of |residual| of the five weeks before it."""
    n, days = residual.shape
    ends = np.arange(anchor % 7, days, 7)
    scale = np.full((n, days), np.nan, _F32)
    if not len(ends):
        return scale
    # Missing residuals (a young series) count as +inf, which turns each median into an upper
    # quantile of what is there; with fewer than three weekly medians the larger of the last
    # two is taken, widened further while few residuals are behind it.
    padded = np.full((n, days + 7), np.inf, _F32)
    padded[:, 7:] = np.nan_to_num(np.abs(residual), nan=np.inf)
    weekly = _median([padded[:, ends + 7 - lag] for lag in range(1, 8)], _SORT7)
    lanes = _lagged(weekly, (0, 1, 2, 3, 4), fill=np.inf)
    weeks = _median(lanes, _SORT5)
    weeks = np.where(np.isnan(weeks), np.fmax(weekly, _shifted(weekly, 1)), weeks)
    counted = np.concatenate([np.zeros((n, 1), np.int32),
                              np.cumsum(~np.isnan(residual), axis=1, dtype=np.int32)], axis=1)
    seen = counted[:, ends].astype(_F32)  # residuals before each week boundary
    with np.errstate(divide="ignore", invalid="ignore"):
        weeks *= _F32(1.4826) * (_F32(1.0) + _F32(tuning.warmup) / np.minimum(seen, _F32(35)))
    weeks[seen < tuning.min_residuals] = np.nan
    # Each day takes the scale of the last week boundary on or before it.
    since = np.searchsorted(ends, np.arange(days), side="right") - 1
    scale[:, since >= 0] = weeks[:, since[since >= 0]]
    return scale


def baseline(values: np.ndarray, tuning: Tuning = DEFAULT_TUNING, block: int = 1024) -> np.ndarray:
    """Expected cost (without recurring charges) of each series on each day, from the days
    before it; NaN while unknown."""
    out = np.empty(values.shape, np.float64)
    for lo in range(0, values.shape[0], block):
        out[lo: lo + block] = model(values[lo: lo + block], tuning).expected
    return out


def _median(lanes: list[np.ndarray], net: Sequence[tuple[int, int]]) -> np.ndarray:
    """Median of lanes coded by ``_coded``; NaN where none of them had a value."""
    mid = _order_stats(lanes, net, (len(lanes) // 2,))[0]
    mid[np.isinf(mid)] = np.nan
    return mid


def _order_stats(lanes: list[np.ndarray], net: Sequence[tuple[int, int]],
                 outputs: Sequence[int]) -> list[np.ndarray]:
    """The requested order statistics (0 = smallest) of equally shaped lanes."""
    work = list(lanes)
    needed = set(outputs)
    plan: list[tuple[int, int, bool, bool]] = []
    for lo, hi in reversed(net):
        want_lo, want_hi = lo in needed, hi in needed
        if want_lo or want_hi:
            plan.append((lo, hi, want_lo, want_hi))
            needed |= {lo, hi}
    own: set[int] = set()  # lanes holding arrays made here, which may be overwritten
    for lo, hi, want_lo, want_hi in reversed(plan):
        a, b = work[lo], work[hi]
        if want_lo:
            low = np.minimum(a, b, out=a if lo in own and not want_hi else None)
        if want_hi:
            work[hi] = np.maximum(a, b, out=b if hi in own else None)
            own.add(hi)
        if want_lo:
            work[lo] = low
            own.add(lo)
    return [work[i] if i in own else np.array(work[i]) for i in outputs]


def _coded(a: np.ndarray, pad: int = 0, fill: float | None = None) -> np.ndarray:
    """``a`` after ``pad`` missing columns, each missing value (NaN) replaced by ``fill``, or
    by +inf and -inf on alternate columns. In a median of lanes at consecutive or odd-spaced
    lags, missing values then come in +- pairs (before a series starts, on quiet weekends) and
    the middle lane still lands on a median of the values present."""
    n, width = a.shape
    out = np.empty((n, pad + width), a.dtype)
    out[:, :pad] = np.nan
    out[:, pad:] = a
    if fill is not None:
        return np.nan_to_num(out, copy=False, nan=fill, posinf=np.inf, neginf=-np.inf)
    sign = np.where(np.arange(pad + width) % 2 == 0, np.inf, -np.inf).astype(a.dtype)
    np.copyto(out, np.broadcast_to(sign, out.shape), where=np.isnan(out))
    return out


def _lagged(a: np.ndarray, lags: Sequence[int], fill: float | None = None) -> list[np.ndarray]:
    """Views of ``a`` (coded by ``_coded``) shifted right by each lag."""
    pad = max(lags)
    padded = _coded(a, pad, fill)
    return [padded[:, pad - lag: pad - lag + a.shape[1]] for lag in lags]


def _shifted(a: np.ndarray, lag: int) -> np.ndarray:
    """``a`` shifted right by ``lag`` columns, NaN in front."""
    out = np.full_like(a, np.nan)
    if lag < a.shape[1]:
        out[:, lag:] = a[:, :-lag]
    return out
