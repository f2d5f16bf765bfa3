"""What a set of seeds says: mean and spread per config, and paired differences between
configs with a 95% confidence interval (Student's t over seeds: the runs of two configs
on one seed share the data draw and the sampling seed, so they pair up)."""

from __future__ import annotations

import math
from dataclasses import dataclass

CONFIDENCE = 0.95


def mean_std(values: list[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _t_cdf(x: float, df: int, steps: int = 2000) -> float:
    """P(T <= x) for x >= 0 by Simpson's rule on [0, x] (the density is smooth there)."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def density(t: float) -> float:
        return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))

    h = x / steps
    total = density(0.0) + density(x)
    total += sum((4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
    return 0.5 + total * h / 3


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (p > 0.5) of Student's t with ``df`` degrees of freedom, by
    bisection on its distribution function (accurate to about 1e-6)."""
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def t_interval(values: list[float]) -> tuple[float, float] | None:
    """The 95% Student-t interval of the mean of ``values`` (mean +- t * s / sqrt(n), n - 1
    degrees of freedom); None for fewer than two values, where there is no interval."""
    n = len(values)
    if n < 2:
        return None
    mean, std = mean_std(values)
    half = t_quantile(0.5 + CONFIDENCE / 2, n - 1) * std / math.sqrt(n)
    return mean - half, mean + half


def describe_interval(n: int, paired: bool = False) -> str:
    """How an interval over ``n`` seeds was computed, as tables and records state it."""
    return (f"{CONFIDENCE:.0%} CI, Student's t over {n} seeds"
            f"{' (paired by seed)' if paired else ''}")  # fmt: skip


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` over the seeds both were run on: mean, a 95% t interval (None with one
    seed), and how many seeds agree with the mean's sign."""

    a: str
    b: str
    metric: str
    per_seed: tuple[float, ...]
    mean: float
    low: float | None
    high: float | None
    agreeing: int

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of zero (never without one)."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def paired_difference(a: str, b: str, metric: str, a_values: list[float],
                      b_values: list[float]) -> PairedDifference:  # fmt: skip
    """The difference of two configs' values seed by seed (the lists are aligned)."""
    diffs = [x - y for x, y in zip(a_values, b_values, strict=True)]
    mean, _ = mean_std(diffs)
    low, high = t_interval(diffs) or (None, None)
    sign = 1 if mean > 0 else -1 if mean < 0 else 0
    agreeing = sum(1 for d in diffs if (d > 0) - (d < 0) == sign)
    return PairedDifference(a, b, metric, tuple(diffs), mean, low, high, agreeing)
