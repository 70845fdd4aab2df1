"""The log-scale search: it narrows onto the best point, keeps to its budget and its bounds."""

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest

from model.data.synthetic import taste_interactions
from model.training import selection as selection_module
from model.training.als import TrainingParams
from model.training.candidates import KINDS, SearchGrid
from model.training.search import Dimension, search
from model.training.selection import select


@dataclass(frozen=True)
class Point:
    strength: float = 250.0
    size: int = 12


STRENGTH = Dimension("strength", 1.0, 100_000.0, 10.0)
SIZE = Dimension("size", 2, 256, 2.0, integer=True)


def peaked(best_strength: float, best_size: int):
    """A score that falls with the log distance from (best_strength, best_size)."""

    def score(point: Point) -> float:
        return (
            -(math.log(point.strength / best_strength) ** 2) - math.log(point.size / best_size) ** 2
        )

    return score


def test_the_search_narrows_onto_an_optimum_between_the_coarse_steps():
    tried = search(Point(), (STRENGTH,), peaked(90.0, 12), budget=12)
    best = max(tried, key=peaked(90.0, 12))
    # A grid of 10, 50, 250, 1000 would stop at 50 or 250; the search gets within 20%.
    assert 75 <= best.strength <= 108
    # Narrowing: the last points tried are closer to each other than the first step.
    assert abs(math.log(tried[-1].strength / tried[-2].strength)) < math.log(10.0)


def test_the_search_keeps_to_its_budget_and_its_bounds_and_moves_every_dimension():
    score = peaked(50_000_000.0, 40)
    tried = search(Point(), (STRENGTH, SIZE), score, budget=12)
    assert len(tried) == 12
    assert len(set(tried)) == 12  # no point is scored twice
    assert all(1.0 <= p.strength <= 100_000.0 and 2 <= p.size <= 256 for p in tried)
    assert all(isinstance(p.size, int) for p in tried)
    best = max(tried, key=score)
    assert best.strength == 100_000.0 and best.size > 12


def test_a_budget_of_one_tries_the_starting_point_only():
    assert search(Point(strength=7.0), (STRENGTH, SIZE), peaked(90.0, 12), budget=1) == [
        Point(strength=7.0)
    ]


@pytest.fixture(scope="module")
def data():
    return taste_interactions(num_users=150, num_items=40, num_categories=4, seed=3)


def test_selection_spends_at_most_its_fit_budget_and_searches_what_has_no_grid(data):
    grid = SearchGrid(("als", "ease"), TrainingParams(iterations=3), fit_budget=30, folds=2)
    selection = select(data, grid)
    assert selection.fits <= 30
    assert selection.fits == 2 * len(selection.validation)
    kinds = [candidate.kind for candidate, _ in selection.validation]
    assert {"als", "ease"} <= set(kinds)
    lambdas = {c.params.regularization for c, _ in selection.validation if c.kind == "ease"}
    assert len(lambdas) >= 3 and 250.0 in lambdas  # searched from the default
    alphas = {c.params.alpha for c, _ in selection.validation if c.kind == "als"}
    assert len(alphas) >= 2  # confidence scaling is searched as well
    assert selection.describe()["fit_budget"] == 30


def test_a_round_the_caller_cannot_afford_is_not_started():
    asked = []

    def affordable(points: int) -> bool:
        asked.append(points)
        return len(asked) <= 1  # the first round only

    tried = search(Point(), (STRENGTH, SIZE), peaked(90.0, 12), budget=30, affordable=affordable)
    assert asked[0] == 4  # two neighbours on each of two dimensions
    assert 1 < len(tried) <= 5
    assert search(Point(), (STRENGTH, SIZE), peaked(90.0, 12), 30, lambda points: False) == [
        Point()
    ]


class FitClock:
    """A clock that moves only while a candidate is fitted: ten seconds a fold.

    A fake on purpose: real fit times vary with the machine's load, and what is under test is
    the arithmetic (a round starts only when it ends within the kind's share at the seconds
    its points took), which fits of a known length make exact.
    """

    FOLD_SECONDS = 10.0

    def __init__(self, monkeypatch) -> None:
        self.now = 0.0
        real = selection_module.score_folds

        def timed(fit, folds, k):
            self.now += self.FOLD_SECONDS * len(folds)
            return real(fit, folds, k)

        monkeypatch.setattr(selection_module, "score_folds", timed)

    def __call__(self) -> float:
        return self.now


def test_the_search_stops_narrowing_at_its_time_budget_and_still_picks(data, monkeypatch):
    base = SearchGrid(("als", "ease"), TrainingParams(iterations=3), fit_budget=60, folds=2)
    clock = FitClock(monkeypatch)
    unlimited = select(data, replace(base, search_seconds=1e9), clock=clock)
    limited = select(data, replace(base, search_seconds=200.0), clock=clock)
    assert len(limited.validation) < len(unlimited.validation)
    # Each point is 20 s (two folds): the two start points, then rounds within 200 s.
    assert 2 < len(limited.validation) <= 10
    assert limited.search_seconds <= 200.0
    assert {c.kind for c, _ in limited.validation} == {"als", "ease"}
    assert limited.chosen in dict(limited.validation)
    assert any("stopped early" in note and "--search-minutes" in note for note in limited.notes)
    assert not any("stopped early" in note for note in unlimited.notes)
    assert limited.describe()["search_minutes"] == round(200.0 / 60, 3)


def test_a_search_budget_of_nothing_still_tries_each_kind_once(data):
    grid = SearchGrid(("als", "ease"), TrainingParams(iterations=3), folds=2, search_seconds=0)
    selection = select(data, grid)
    assert sorted(c.kind for c, _ in selection.validation) == ["als", "ease"]
    assert selection.fits == 4
    assert selection.chosen.kind in ("als", "ease")


def test_a_small_catalogue_spends_its_fit_budget_well_within_the_default_minutes(data):
    grid = SearchGrid(("als", "ease"), TrainingParams(iterations=3), fit_budget=30, folds=2)
    default = select(data, grid)
    unlimited = select(data, replace(grid, search_seconds=1e9))
    assert [c for c, _ in default.validation] == [c for c, _ in unlimited.validation]
    assert default.search_seconds < grid.search_seconds


def test_a_kind_only_a_benchmark_adds_is_searched_from_its_defaults(data, monkeypatch):
    from bench import selection as bench_selection

    # bench/selection.py --edlae adds EDLAE to KINDS in its own process; setitem undoes it here.
    monkeypatch.setitem(KINDS, "edlae", KINDS["dlae"])
    bench_selection.add_edlae()
    grid = SearchGrid(("ease", "edlae"), folds=2, fit_budget=8)
    assert grid.base("edlae") == bench_selection.EdlaeParams()
    assert grid.grid("edlae") is None
    selection = select(data, grid)
    edlae = [c for c, _ in selection.validation if c.kind == "edlae"]
    assert edlae and all(c.label.startswith("edlae lambda=") for c in edlae)
    assert bench_selection.EdlaeParams() in {c.params for c in edlae}  # its starting point
    model = edlae[0].fit(data)
    assert model.kind == "ease"  # scored as EASE is: a zero-diagonal weight matrix
    assert np.allclose(np.diag(model.item_weights), 0.0)
