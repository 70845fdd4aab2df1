"""The statistics of the report, checked against values worked out by hand and against scipy."""

import math

import pytest
from scipy import stats as scipy_stats

from recommendations.reporting import stats


def test_z_value_for_95_percent_is_1_96():
    assert stats.z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert stats.z_value(0.90) == pytest.approx(1.644854, abs=1e-6)
    with pytest.raises(ValueError):
        stats.z_value(1.0)


def test_difference_interval_by_hand():
    # 60 of 1000 against 40 of 1000: p1 - p2 = 0.02,
    # se = sqrt(.06 * .94 / 1000 + .04 * .96 / 1000) = sqrt(9.48e-5) = 0.0097365.
    interval = stats.difference_interval(60, 1000, 40, 1000)
    assert interval.estimate == pytest.approx(0.02)
    assert interval.low == pytest.approx(0.02 - 1.959964 * 0.0097365, abs=1e-6)
    assert interval.high == pytest.approx(0.02 + 1.959964 * 0.0097365, abs=1e-6)
    assert interval.excludes(0.0)
    assert not interval.excludes(0.03)


def test_lift_interval_by_hand():
    # Rate ratio 1.5; se of its log = sqrt(.94 / 60 + .96 / 40) = 0.199165.
    interval = stats.lift_interval(60, 1000, 40, 1000)
    assert interval.estimate == pytest.approx(0.5)
    assert interval.low == pytest.approx(1.5 * math.exp(-1.959964 * 0.199165) - 1, abs=1e-5)
    assert interval.high == pytest.approx(1.5 * math.exp(1.959964 * 0.199165) - 1, abs=1e-5)
    assert interval.low == pytest.approx(0.0152, abs=1e-4)
    assert interval.high == pytest.approx(1.2163, abs=1e-4)


def test_p_value_matches_scipy_and_the_chi_square_test():
    p = stats.p_value(60, 1000, 40, 1000)
    z = (0.06 - 0.04) / math.sqrt(0.05 * 0.95 * 2 / 1000)
    assert p == pytest.approx(2 * scipy_stats.norm.sf(z))
    # The pooled z-test is the 2x2 chi-square test without continuity correction.
    chi2 = scipy_stats.chi2_contingency([[60, 940], [40, 960]], correction=False)
    assert p == pytest.approx(chi2.pvalue)


def test_intervals_are_none_when_undefined():
    assert stats.difference_interval(0, 0, 3, 10) is None
    assert stats.lift_interval(3, 10, 0, 10) is None  # no clicks in the baseline: no ratio
    assert stats.p_value(0, 10, 0, 10) is None
    assert stats.rate(0, 0) is None
    with pytest.raises(ValueError):
        stats.difference_interval(11, 10, 3, 10)


def test_more_data_narrows_the_interval():
    small = stats.difference_interval(6, 100, 4, 100)
    large = stats.difference_interval(600, 10_000, 400, 10_000)
    assert (large.high - large.low) < (small.high - small.low) / 9
    assert not small.excludes(0.0)
    assert large.excludes(0.0)


def test_impressions_needed_for_a_50_percent_lift_on_a_5_percent_rate():
    # Fleiss' formula by hand: p1 = .05, p2 = .075, mean .0625.
    z_a, z_b = 1.959964, 0.841621
    expected = (
        z_a * math.sqrt(2 * 0.0625 * 0.9375) + z_b * math.sqrt(0.05 * 0.95 + 0.075 * 0.925)
    ) ** 2 / 0.025**2
    assert stats.impressions_needed(0.05, 0.5) == math.ceil(expected)
    assert 1400 < stats.impressions_needed(0.05, 0.5) < 1500
    assert stats.impressions_needed(0.05, 0.1) > stats.impressions_needed(0.05, 0.5)
