"""Small statistics for the report: means with standard deviations, paired t-intervals, slopes and correlations."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats


class Interval(NamedTuple):
    """An estimate (mean, slope or correlation) with its confidence interval; None bounds where there is none."""

    value: float
    low: float | None
    high: float | None


def mean_std(values) -> tuple[float, float | None, int]:
    """(mean, sample standard deviation or None for one value, n)."""
    v = np.asarray(list(values), dtype=float)
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else None), len(v)


def t_interval(values, level: float = 0.95) -> Interval:
    """(mean, low, high): the t-interval of the mean (None bounds with fewer than 2 values). For paired differences
    (pre-trained minus from-scratch with the same seed and sample) this is the paired t-interval."""
    v = np.asarray(list(values), dtype=float)
    if len(v) < 2:
        return Interval(float(v.mean()), None, None)
    if np.ptp(v) == 0:  # no spread: the interval is the point (scipy would give nan)
        return Interval(float(v[0]), float(v[0]), float(v[0]))
    interval = stats.ttest_1samp(v, 0.0).confidence_interval(level)
    return Interval(float(v.mean()), float(interval.low), float(interval.high))


def above_zero(interval: Interval) -> str:
    """A gain's verdict: "yes" where its interval lies above zero, "no" where below, else "not resolved"."""
    if interval.low is not None and interval.low > 0:
        return "yes"
    return "no" if interval.high is not None and interval.high < 0 else "not resolved"


def slope_interval(x, y, level: float = 0.95) -> Interval:
    """(slope, low, high) of the least-squares line y = a + b x with its t-interval (n - 2 degrees of freedom)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0:
        return Interval(float("nan"), None, None)
    fit = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 2) * fit.stderr
    return Interval(float(fit.slope), float(fit.slope - half), float(fit.slope + half))


def correlation_interval(x, y, level: float = 0.95) -> Interval:
    """(Pearson r, low, high) with the Fisher-z interval (needs n >= 4)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Interval(float("nan"), None, None)
    result = stats.pearsonr(x, y)
    if len(x) < 4 or abs(result.statistic) >= 1:
        return Interval(float(result.statistic), None, None)
    interval = result.confidence_interval(level)
    return Interval(float(result.statistic), float(interval.low), float(interval.high))
