"""Model choice by evidence: a small grid of ALS and EASE candidates, picked on a validation split.

The validation split is carved from the training part only (each user's newest order in it,
which is their second-newest overall when the caller already held out the last one), so test
figures are never tuned on. The pick is by NDCG@k, ties broken by recall@k: the widget shows a
short ranked list where the first places get the clicks, and NDCG rewards putting the bought
item high while recall@k does not care where in the k it is.
"""

import argparse
from dataclasses import asdict, dataclass, field, fields, replace

from ..data.interactions import DataError, Interactions
from ..evaluation.metrics import Scores, held_out, score_model, time_split
from ..inference.recommender import Recommender
from .als import TrainingParams, fit
from .ease import EaseParams, check_memory, fit_ease
from .encoding import encode

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


@dataclass(frozen=True)
class SearchGrid:
    """Which models to try and the values of the hyperparameters the grid varies."""

    models: tuple[str, ...] = MODELS
    als: TrainingParams = field(default_factory=TrainingParams)
    als_factors: tuple[int, ...] = DEFAULT_ALS_FACTORS
    als_regularization: tuple[float, ...] = DEFAULT_ALS_REGULARIZATION
    ease: EaseParams = field(default_factory=EaseParams)
    ease_regularization: tuple[float, ...] = DEFAULT_EASE_REGULARIZATION

    def __post_init__(self) -> None:
        unknown = set(self.models) - set(MODELS)
        if not self.models or unknown:
            raise ValueError(f"models must be among {', '.join(MODELS)}")

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
class Selection:
    """The chosen candidate, every candidate's validation scores, and why any were left out."""

    chosen: Candidate
    validation: list[tuple[Candidate, Scores | None]]
    notes: list[str]
    metric: str = SELECTION_METRIC
    k: int = 10

    def describe(self) -> dict:
        """The choice and the validation scores, for metrics.json."""
        return {
            "metric": f"{self.metric}@{self.k}",
            "chosen": self.chosen.describe(),
            "chosen_label": self.chosen.label,
            "candidates": [
                {
                    "label": candidate.label,
                    **candidate.describe(),
                    "validation": asdict(scores) if scores else None,
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


def select(interactions: Interactions, grid: SearchGrid, k: int = 10) -> Selection:
    """Pick a candidate by NDCG@k on the newest orders of `interactions`, fitted on the rest."""
    candidates, notes = grid.candidates(len(encode(interactions).item_ids))
    if len(candidates) == 1:
        return Selection(candidates[0], [(candidates[0], None)], notes, k=k)
    fit_part, validation_part = time_split(interactions)
    validation = held_out(fit_part, validation_part)
    if not validation.user_ids:
        notes.append("no user has an older order to validate on: the first candidate is kept")
        return Selection(candidates[0], [(c, None) for c in candidates], notes, k=k)
    scored = [(c, score_model(c.fit(fit_part), validation, k)) for c in candidates]
    # max() keeps the first of equals: grid order (ALS first, smaller values first) breaks ties.
    chosen, _ = max(scored, key=lambda pair: (pair[1].ndcg, pair[1].recall))
    return Selection(chosen, list(scored), notes, k=k)


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
    return SearchGrid(models, als, factors, regularization, ease, tuple(arguments.ease_lambda))


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
