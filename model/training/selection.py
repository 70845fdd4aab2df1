"""Model choice by evidence: candidates of every kind, picked on validation folds.

The folds are carved from the training part only (validation.py: each user's newest orders in
it, one fold per order), so test figures are never tuned on. The candidate with the best mean
per-user NDCG@k (ties: recall@k) is the best; the pick is the cheapest to serve among the
candidates the best does not beat by more than the 95% paired bootstrap interval of its lead.
NDCG because the widget shows a short ranked list where the first places get the clicks; the
cheaper candidate because a difference within the noise is no reason to serve a bigger model.
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from ..data.interactions import Interactions
from ..evaluation.gate import paired_interval
from ..evaluation.metrics import Scores
from .als import TrainingParams
from .candidates import KINDS, Candidate, SearchGrid, kind_of
from .ease import EaseParams
from .encoding import encode
from .search import search, start_point
from .validation import UserScores, score_folds, validation_folds

SELECTION_METRIC = "ndcg"


@dataclass(frozen=True)
class Behind:
    """How far a candidate is behind the best on validation: the lead and its 95% interval."""

    lead: float
    low: float
    high: float

    @property
    def within_noise(self) -> bool:
        """True when the interval does not lie wholly above zero."""
        return self.low <= 0.0


@dataclass(frozen=True)
class Selection:
    """The chosen candidate, every candidate's validation scores, and why any were left out."""

    chosen: Candidate
    validation: list[tuple[Candidate, Scores | None]]
    notes: list[str]
    metric: str = SELECTION_METRIC
    k: int = 10
    folds: int = 0
    best: Candidate | None = None  # the best mean on validation (the pick may be cheaper)
    behind: dict[Candidate, Behind] = field(default_factory=dict)
    newest_fold_ndcg: dict[Candidate, float] = field(default_factory=dict)
    fits: int = 0
    fit_budget: int = 0
    search_seconds: float = 0.0  # what the validation fits took
    search_budget_seconds: float = 0.0

    def describe(self) -> dict:
        """The choice and the validation scores, for metrics.json."""
        return {
            "metric": f"{self.metric}@{self.k}",
            "folds": self.folds,
            "fits": self.fits,
            "fit_budget": self.fit_budget,
            "search_seconds": round(self.search_seconds, 3),
            "search_minutes": round(self.search_budget_seconds / 60, 3),
            "chosen": self.chosen.describe(),
            "chosen_label": self.chosen.label,
            "best_label": self.best.label if self.best else self.chosen.label,
            "candidates": [
                {
                    "label": candidate.label,
                    **candidate.describe(),
                    "validation": asdict(scores) if scores else None,
                    "newest_fold_ndcg": self.newest_fold_ndcg.get(candidate),
                    "behind_best": asdict(self.behind[candidate])
                    if candidate in self.behind
                    else None,
                }
                for candidate, scores in self.validation
            ],
            "notes": self.notes,
        }


def as_grid(params: "TrainingParams | EaseParams | SearchGrid | None") -> SearchGrid:
    """A grid from what a caller passed: one fixed setting of any kind, a grid, or the default."""
    if params is None:
        return SearchGrid()
    if isinstance(params, SearchGrid):
        return params
    # One kind with a budget of one point: its parameters as given, no validation fits.
    kind = kind_of(params)
    return SearchGrid((kind.name,), **{kind.name: params}, fit_budget=1)


def choose(
    scored: list[tuple[Candidate, UserScores]], num_users: int, num_items: int
) -> tuple[Candidate, Candidate, dict[Candidate, Behind]]:
    """(pick, best, how far each is behind the best): the cheapest within noise of the best.

    Every candidate is scored on the same validation users, so the comparison is paired: the
    interval is the percentile bootstrap of the mean per-user NDCG difference (gate.py's).
    """
    # max() keeps the first of equals: candidate order (ALS first, smaller values first).
    best, best_scores = max(scored, key=lambda pair: (pair[1].ndcg.mean(), pair[1].recall.mean()))
    behind = {}
    for candidate, scores in scored:
        low, high = paired_interval(best_scores.ndcg, scores.ndcg)
        lead = float(np.mean(best_scores.ndcg - scores.ndcg))
        behind[candidate] = Behind(round(lead, 6), round(low, 6), round(high, 6))
    eligible = [(c, s) for c, s in scored if behind[c].within_noise]
    chosen, _ = min(
        eligible,
        key=lambda pair: (pair[0].serving_cost(num_users, num_items), -pair[1].ndcg.mean()),
    )
    return chosen, best, behind


def select(
    interactions: Interactions,
    grid: SearchGrid,
    k: int = 10,
    clock: Callable[[], float] = time.monotonic,
) -> Selection:
    """Pick a candidate on validation folds cut from the newest orders of `interactions`.

    Each kind's grid is tried as given; the kinds without one are searched, sharing what is
    left of the fit budget (every point costs one fit per fold) and of the time budget (a round
    is started only when, at the seconds the kind's points took so far, it ends within the
    kind's share). Every searched kind's start point is scored first, whatever the time.
    """
    encoded = encode(interactions)
    num_users, num_items = len(encoded.user_ids), len(encoded.item_ids)
    kinds, notes = grid.kinds(num_items)
    grids = {kind: grid.grid(kind) for kind in kinds}
    starts = [Candidate(grid.base(kind)) for kind in kinds if grids[kind] is None]
    fixed = [candidate for kind in kinds for candidate in grids[kind] or ()]
    if len(fixed) + len(starts) == 1:
        only = (fixed + starts)[0]
        return Selection(only, [(only, None)], notes, k=k)
    folds = validation_folds(interactions, grid.folds)
    if not folds:
        notes.append("no user has an older order to validate on: the first candidate is kept")
        first = (fixed + starts)[:1]
        return Selection(first[0], [(c, None) for c in fixed + starts], notes, k=k)
    scored: dict[Candidate, UserScores] = {}
    seconds: dict[Candidate, float] = {}
    started = clock()

    def score(candidate: Candidate) -> float:
        if candidate not in scored:
            before = clock()
            scored[candidate] = score_folds(candidate.fit, folds, k)
            seconds[candidate] = clock() - before
        return float(scored[candidate].ndcg.mean())

    for candidate in fixed:
        score(candidate)
    for kind in kinds:
        if grids[kind] is None:
            score(Candidate(start_point(grid.base(kind), KINDS[kind].dimensions)))
    searched = [kind for kind in kinds if grids[kind] is None]
    points = max(grid.fit_budget // len(folds) - len(fixed), len(searched))
    out_of_time: list[str] = []
    for n, kind in enumerate(searched):
        # The kinds share the points and the seconds left; one whose search stops early leaves
        # them to the next. Its own start point, already scored, is in its share.
        share = (points - (len(scored) - len(fixed) - (len(searched) - n))) // (len(searched) - n)
        kind_started = clock()
        seconds_share = (started + grid.search_seconds - kind_started) / (len(searched) - n)
        affordable = _within_time(kind, seconds, clock, kind_started + seconds_share, out_of_time)
        search(
            grid.base(kind),
            KINDS[kind].dimensions,
            lambda params: score(Candidate(params)),
            max(share, 1),
            affordable,
        )
    search_seconds = clock() - started
    if out_of_time:
        notes.append(
            f"the search of {', '.join(out_of_time)} stopped early: the next round would pass "
            f"--search-minutes {grid.search_seconds / 60:g}"
        )
    pairs = list(scored.items())
    chosen, best, behind = choose(pairs, num_users, num_items)
    if len(scored) * len(folds) > grid.fit_budget:
        notes.append(
            f"{len(scored) * len(folds)} fits: the grids given and one point per searched kind "
            f"need more than --fit-budget {grid.fit_budget}"
        )
    return Selection(
        chosen,
        [(c, s.summary()) for c, s in pairs],
        notes,
        k=k,
        folds=len(folds),
        best=best,
        behind=behind,
        newest_fold_ndcg={c: round(s.newest_fold_ndcg, 6) for c, s in pairs},
        fits=len(folds) * len(pairs),
        fit_budget=grid.fit_budget,
        search_seconds=search_seconds,
        search_budget_seconds=grid.search_seconds,
    )


def _within_time(
    kind: str,
    seconds: dict[Candidate, float],
    clock: Callable[[], float],
    deadline: float,
    stopped: list[str],
) -> Callable[[int], bool]:
    """The search's check for `kind`: do `points` more, at its mean seconds a point, end by `deadline`?"""

    def affordable(points: int) -> bool:
        took = [spent for candidate, spent in seconds.items() if candidate.kind == kind]
        ends = clock() + points * sum(took) / len(took)
        if ends > deadline:
            stopped.append(kind)
        return ends <= deadline

    return affordable
