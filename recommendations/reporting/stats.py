"""Comparing two click-through rates: the difference and the lift with confidence intervals.

Plain functions on counts, no Django. A rate here is a share of impressions with at least one
click (a Bernoulli trial per impression), so the two-proportion normal approximation applies:

- difference p1 - p2, Wald interval with unpooled standard error sqrt(p1 q1 / n1 + p2 q2 / n2);
- lift p1 / p2 - 1, interval from the log of the rate ratio (Katz), whose standard error is
  sqrt(q1 / x1 + q2 / x2); it is not symmetric around the estimate, as a ratio's should not be;
- two-sided p-value of the pooled z-test of p1 = p2;
- impressions per arm needed to detect a given lift (power analysis), for planning a test.

The approximation treats impressions as independent. Repeat visits of one user are correlated,
so with few users and many views each the true interval is wider; the README says how to read it.
"""

import math
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Interval:
    """An estimate with the bounds of its confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float

    def excludes(self, value: float) -> bool:
        """Whether `value` lies outside the interval (the data contradict it at this confidence)."""
        return value < self.low or value > self.high


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile for `confidence` (1.96 for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    return _NORMAL.inv_cdf(0.5 + confidence / 2)


def rate(successes: int, trials: int) -> float | None:
    """successes / trials, or None without trials."""
    return successes / trials if trials else None


def _check(successes: int, trials: int) -> None:
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")


def difference_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, confidence: float = 0.95
) -> Interval | None:
    """p_a - p_b with its Wald interval; None when either arm has no trials."""
    _check(successes_a, trials_a)
    _check(successes_b, trials_b)
    if not trials_a or not trials_b:
        return None
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    standard_error = math.sqrt(p_a * (1 - p_a) / trials_a + p_b * (1 - p_b) / trials_b)
    margin = z_value(confidence) * standard_error
    difference = p_a - p_b
    return Interval(difference, difference - margin, difference + margin, confidence)


def lift_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, confidence: float = 0.95
) -> Interval | None:
    """p_a / p_b - 1 with its log-ratio interval; None when an arm has no trials or no successes."""
    _check(successes_a, trials_a)
    _check(successes_b, trials_b)
    if not (trials_a and trials_b and successes_a and successes_b):
        return None
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    log_ratio = math.log(p_a / p_b)
    standard_error = math.sqrt((1 - p_a) / successes_a + (1 - p_b) / successes_b)
    margin = z_value(confidence) * standard_error
    return Interval(
        p_a / p_b - 1,
        math.exp(log_ratio - margin) - 1,
        math.exp(log_ratio + margin) - 1,
        confidence,
    )


def p_value(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test; None when it is undefined."""
    _check(successes_a, trials_a)
    _check(successes_b, trials_b)
    if not trials_a or not trials_b:
        return None
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance == 0:
        return None
    z = (successes_a / trials_a - successes_b / trials_b) / math.sqrt(variance)
    return 2 * (1 - _NORMAL.cdf(abs(z)))


def impressions_needed(
    baseline_rate: float, lift: float, confidence: float = 0.95, power: float = 0.8
) -> int:
    """Impressions per arm for a two-sided test at `confidence` to detect `lift` with `power`."""
    if not 0 < baseline_rate < 1 or lift <= -1 or lift == 0:
        raise ValueError("need 0 < baseline_rate < 1 and a non-zero lift above -1")
    treated = baseline_rate * (1 + lift)
    if not 0 < treated < 1:
        raise ValueError("baseline_rate * (1 + lift) must be a rate between 0 and 1")
    mean = (baseline_rate + treated) / 2
    numerator = z_value(confidence) * math.sqrt(2 * mean * (1 - mean)) + _NORMAL.inv_cdf(
        power
    ) * math.sqrt(baseline_rate * (1 - baseline_rate) + treated * (1 - treated))
    return math.ceil((numerator / (treated - baseline_rate)) ** 2)
