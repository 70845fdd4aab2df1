"""Model choice by evidence: ALS and EASE candidates, picked on validation folds.

The folds are carved from the training part only (validation.py: each user's newest orders in
it, one fold per order), so test figures are never tuned on. The candidate with the best mean
per-user NDCG@k (ties: recall@k) is the best; the pick is the cheapest to serve among the
candidates the best does not beat by more than the 95% paired bootstrap interval of its lead.
NDCG because the widget shows a short ranked list where the first places get the clicks; the
cheaper candidate because a difference within the noise is no reason to serve a bigger model.
"""

import argparse
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from ..data.interactions import DataError, Interactions
from ..evaluation.gate import paired_interval
from ..evaluation.metrics import Scores
from ..inference.recommender import Recommender
from .als import TrainingParams, fit
from .ease import EaseParams, check_memory, fit_ease
from .encoding import encode
from .validation import DEFAULT_FOLDS, UserScores, score_folds, validation_folds

SELECTION_METRIC = "ndcg"
MODELS = ("als", "ease")
DEFAULT_ALS_FACTORS = (12, 32)
DEFAULT_ALS_REGULARIZATION = (0.3, 1.0)
DEFAULT_EASE_REGULARIZATION = (10.0, 50.0, 250.0, 1000.0)


@dataclass(frozen=True)
class Candidate:
    """One model kind with one set of hyperparameters."""

    params: TrainingParams | EaseParams

    @property
    def kind(self) -> str:
        """The model kind: als or ease."""
        return "ease" if isinstance(self.params, EaseParams) else "als"

    @property
    def label(self) -> str:
        """A short name for tables: the kind and the hyperparameters the grid varies."""
        if isinstance(self.params, EaseParams):
            return f"ease lambda={self.params.regularization:g}"
        return f"als factors={self.params.factors} reg={self.params.regularization:g}"

    def fit(self, interactions: Interactions) -> Recommender:
        """Fit this candidate on `interactions`."""
        if isinstance(self.params, EaseParams):
            return fit_ease(interactions, self.params)
        return fit(interactions, self.params)

    def describe(self) -> dict:
        """The kind and every hyperparameter, for metrics.json."""
        return {"model": self.kind, **asdict(self.params)}

    def serving_cost(self, num_users: int, num_items: int) -> int:
        """The floats the served model holds: what a simpler candidate saves."""
        if isinstance(self.params, EaseParams):
            return num_items * num_items
        return (num_users + num_items) * self.params.factors


@dataclass(frozen=True)
class SearchGrid:
    """Which models to try and the values of the hyperparameters the grid varies."""

    models: tuple[str, ...] = MODELS
    als: TrainingParams = field(default_factory=TrainingParams)
    als_factors: tuple[int, ...] = DEFAULT_ALS_FACTORS
    als_regularization: tuple[float, ...] = DEFAULT_ALS_REGULARIZATION
    ease: EaseParams = field(default_factory=EaseParams)
    ease_regularization: tuple[float, ...] = DEFAULT_EASE_REGULARIZATION
    folds: int = DEFAULT_FOLDS

    def __post_init__(self) -> None:
        unknown = set(self.models) - set(MODELS)
        if not self.models or unknown:
            raise ValueError(f"models must be among {', '.join(MODELS)}")
        if self.folds < 1:
            raise ValueError("folds must be >= 1")

    def candidates(self, num_items: int) -> tuple[list[Candidate], list[str]]:
        """The candidates to try on `num_items` items, and notes on any left out.

        EASE is left out when its items x items matrix exceeds the memory limit, unless it was
        the only model asked for: then the refusal is the answer.
        """
        candidates, notes = [], []
        if "als" in self.models:
            for factors in self.als_factors:
                for regularization in self.als_regularization:
                    params = replace(self.als, factors=factors, regularization=regularization)
                    candidates.append(Candidate(params))
        if "ease" in self.models:
            try:
                check_memory(num_items, self.ease.max_memory_mb)
            except DataError as error:
                if self.models == ("ease",):
                    raise
                notes.append(f"ease left out: {error}")
            else:
                for regularization in self.ease_regularization:
                    candidates.append(Candidate(replace(self.ease, regularization=regularization)))
        return candidates, notes


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

    def describe(self) -> dict:
        """The choice and the validation scores, for metrics.json."""
        return {
            "metric": f"{self.metric}@{self.k}",
            "folds": self.folds,
            "fits": self.fits,
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
    """A grid from what a caller passed: one fixed ALS or EASE setting, a grid, or the default."""
    if params is None:
        return SearchGrid()
    if isinstance(params, TrainingParams):
        return SearchGrid(("als",), params, (params.factors,), (params.regularization,))
    if isinstance(params, EaseParams):
        return SearchGrid(("ease",), ease=params, ease_regularization=(params.regularization,))
    return params


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


def select(interactions: Interactions, grid: SearchGrid, k: int = 10) -> Selection:
    """Pick a candidate on validation folds cut from the newest orders of `interactions`."""
    encoded = encode(interactions)
    num_users, num_items = len(encoded.user_ids), len(encoded.item_ids)
    candidates, notes = grid.candidates(num_items)
    if len(candidates) == 1:
        return Selection(candidates[0], [(candidates[0], None)], notes, k=k)
    folds = validation_folds(interactions, grid.folds)
    if not folds:
        notes.append("no user has an older order to validate on: the first candidate is kept")
        return Selection(candidates[0], [(c, None) for c in candidates], notes, k=k)
    scored = [(c, score_folds(c.fit, folds, k)) for c in candidates]
    chosen, best, behind = choose(scored, num_users, num_items)
    return Selection(
        chosen,
        [(c, s.summary()) for c, s in scored],
        notes,
        k=k,
        folds=len(folds),
        best=best,
        behind=behind,
        newest_fold_ndcg={c: round(s.newest_fold_ndcg, 6) for c, s in scored},
        fits=len(folds) * len(candidates),
    )


def add_param_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for the grid: --model, comma lists for the varied values, one value for the rest."""
    parser.add_argument(
        "--model",
        choices=("auto", *MODELS),
        default="auto",
        help="auto: pick among ALS and EASE on the validation split",
    )
    varied = {"factors": DEFAULT_ALS_FACTORS, "regularization": DEFAULT_ALS_REGULARIZATION}
    for f in fields(TrainingParams):
        option = f"--{f.name.replace('_', '-')}"
        if f.name in varied:
            parser.add_argument(
                option,
                type=_list_of(type(f.default)),
                default=varied[f.name],
                help="ALS; a comma-separated list is a grid",
            )
        else:
            parser.add_argument(option, type=type(f.default), default=f.default)
    parser.add_argument(
        "--ease-lambda",
        type=_list_of(float),
        default=DEFAULT_EASE_REGULARIZATION,
        help="EASE's L2 weight; a comma-separated list is a grid",
    )
    parser.add_argument(
        "--max-memory-mb",
        type=float,
        default=EaseParams.max_memory_mb,
        help="EASE refuses catalogues whose items x items matrix needs more",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="BLAS threads for EASE (0: all cores)"
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=DEFAULT_FOLDS,
        help="validation folds: each user's newest orders within the training part, one per fold",
    )


def params_from_arguments(arguments: argparse.Namespace) -> SearchGrid:
    """The SearchGrid the options `add_param_arguments` added describe."""
    single = {
        f.name: getattr(arguments, f.name)
        for f in fields(TrainingParams)
        if f.name not in ("factors", "regularization")
    }
    factors, regularization = tuple(arguments.factors), tuple(arguments.regularization)
    als = TrainingParams(factors=factors[0], regularization=regularization[0], **single)
    ease = EaseParams(
        regularization=arguments.ease_lambda[0],
        max_memory_mb=arguments.max_memory_mb,
        threads=arguments.threads,
        half_life_days=arguments.half_life_days,
    )
    models = MODELS if arguments.model == "auto" else (arguments.model,)
    return SearchGrid(
        models, als, factors, regularization, ease, tuple(arguments.ease_lambda), arguments.folds
    )


def _list_of(kind: type) -> "type | object":
    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(part) for part in str(text).split(",") if part.strip())
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error
        if not values:
            raise argparse.ArgumentTypeError("expected one value or a comma-separated list")
        return values

    parse.__name__ = f"list of {kind.__name__}"
    return parse
