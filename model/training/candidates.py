"""What the selection tries: the model kinds, a candidate (one kind, one setting), and the plan.

Each kind names its hyperparameters' dataclass, its fit, and the dimensions its search varies
(search.py), starting from the dataclass's defaults: ALS's factors, L2 weight and confidence
scaling; EASE's lambda; DLAE's lambda and dropout rate; RP3beta's alpha and beta. A kind given a list of values (`--factors 12,32`, `--ease-lambda 50,250`,
`--dlae-dropout 0.25,0.5`, `--rp3beta-beta 0.3`) is tried on that grid instead. The fit budget and the time budget are shared by the kinds searched.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..data.interactions import DataError, Interactions
from ..inference.recommender import Recommender
from .als import TrainingParams, fit
from .dlae import DlaeParams, fit_dlae
from .ease import EaseParams, check_memory, fit_ease
from .rp3beta import Rp3BetaParams, fit_rp3beta
from .search import Dimension
from .validation import DEFAULT_FOLDS

# Fits the search may spend, over all kinds and folds: 3 folds x 32 points.
DEFAULT_FIT_BUDGET = 96
# Seconds the search may spend. Small catalogues spend their fit budget well within it (the demo
# preset's search takes under a minute); on 20,000 items, where one EASE fit takes about 28 s, it
# stops the search after about 10 min instead of 47, so the evaluation's fits and the final fit
# stay well within a training job's default --max-runtime of an hour (model/aws/train_job.py).
DEFAULT_SEARCH_SECONDS = 600.0


@dataclass(frozen=True)
class ModelKind:
    """One model kind: its parameters, its fit, its label, and what its search varies."""

    name: str
    params: type
    fit: Callable[[Interactions, Any], Recommender]
    label: Callable[[Any], str]
    dimensions: tuple[Dimension, ...]
    item_item: bool  # an items x items matrix: checked against the memory limit, served so


KINDS: dict[str, ModelKind] = {
    "als": ModelKind(
        "als",
        TrainingParams,
        fit,
        lambda p: f"als factors={p.factors} reg={p.regularization:g} alpha={p.alpha:g}",
        (
            Dimension("factors", 4, 256, 2.0, integer=True),
            Dimension("regularization", 0.01, 100.0, 10.0),
            Dimension("alpha", 0.25, 64.0, 4.0),
        ),
        item_item=False,
    ),
    "ease": ModelKind(
        "ease",
        EaseParams,
        fit_ease,
        lambda p: f"ease lambda={p.regularization:g}",
        (Dimension("regularization", 1.0, 100_000.0, 10.0),),
        item_item=True,
    ),
    "dlae": ModelKind(
        "dlae",
        DlaeParams,
        fit_dlae,
        lambda p: f"dlae lambda={p.regularization:g} dropout={p.dropout:g}",
        (
            Dimension("regularization", 1.0, 100_000.0, 10.0),
            Dimension("dropout", 0.01, 0.9, 2.0),
        ),
        item_item=True,
    ),
    "rp3beta": ModelKind(
        "rp3beta",
        Rp3BetaParams,
        fit_rp3beta,
        lambda p: f"rp3beta alpha={p.alpha:g} beta={p.beta:g}",
        (Dimension("alpha", 0.1, 3.0, 2.0), Dimension("beta", 0.02, 1.5, 2.0)),
        item_item=True,
    ),
}
# What `--model auto` tries: the kinds that earned their place on the synthetic presets
# (docs/model.md has the figures); the others can be asked for by name.
MODELS = ("als", "ease", "dlae", "rp3beta")


def kind_of(params: Any) -> ModelKind:
    """The kind whose parameters `params` are."""
    for kind in KINDS.values():
        if type(params) is kind.params:
            return kind
    raise TypeError(f"no model kind has parameters of type {type(params).__name__}")


@dataclass(frozen=True)
class Candidate:
    """One model kind with one set of hyperparameters."""

    params: Any

    @property
    def kind(self) -> str:
        """The model kind's name: als, ease, ..."""
        return kind_of(self.params).name

    @property
    def label(self) -> str:
        """A short name for tables: the kind and the hyperparameters the search varies."""
        return kind_of(self.params).label(self.params)

    def fit(self, interactions: Interactions) -> Recommender:
        """Fit this candidate on `interactions`."""
        return kind_of(self.params).fit(interactions, self.params)

    def describe(self) -> dict:
        """The kind and every hyperparameter, for metrics.json."""
        return {"model": self.kind, **asdict(self.params)}

    def serving_cost(self, num_users: int, num_items: int) -> int:
        """The floats the served model holds: what a simpler candidate saves."""
        if kind_of(self.params).item_item:
            return num_items * num_items
        return (num_users + num_items) * self.params.factors


@dataclass(frozen=True)
class SearchGrid:
    """Which kinds to try, their base parameters, any fixed grids, the folds, the fit and time budgets.

    A grid list left as None is searched; a tuple is tried as given (with the other values of the
    kind's base parameters).
    """

    models: tuple[str, ...] = MODELS
    als: TrainingParams = field(default_factory=TrainingParams)
    als_factors: tuple[int, ...] | None = None
    als_regularization: tuple[float, ...] | None = None
    ease: EaseParams = field(default_factory=EaseParams)
    ease_regularization: tuple[float, ...] | None = None
    dlae: DlaeParams = field(default_factory=DlaeParams)
    dlae_regularization: tuple[float, ...] | None = None
    dlae_dropout: tuple[float, ...] | None = None
    rp3beta: Rp3BetaParams = field(default_factory=Rp3BetaParams)
    rp3beta_alpha: tuple[float, ...] | None = None
    rp3beta_beta: tuple[float, ...] | None = None
    folds: int = DEFAULT_FOLDS
    fit_budget: int = DEFAULT_FIT_BUDGET
    search_seconds: float = DEFAULT_SEARCH_SECONDS

    def __post_init__(self) -> None:
        unknown = set(self.models) - set(KINDS)
        if not self.models or unknown:
            raise ValueError(f"models must be among {', '.join(KINDS)}")
        if self.folds < 1 or self.fit_budget < 1:
            raise ValueError("folds and fit_budget must be >= 1")
        if not self.search_seconds >= 0:
            raise ValueError("search_seconds must be >= 0")
        for kind in self.models:
            self.grid(kind)  # a value out of a kind's range is refused here, not after fits

    def base(self, kind: str) -> Any:
        """The parameters a kind's grid or search starts from.

        A kind the grid has no field for (one a benchmark adds to KINDS) starts from its defaults.
        """
        return getattr(self, kind, None) or KINDS[kind].params()

    def grid(self, kind: str) -> list[Candidate] | None:
        """The kind's fixed candidates, or None when the kind is searched.

        A kind with a list for one of its two hyperparameters is not searched: the list is its
        grid, with the other's list or its base value.
        """
        lists = {
            "als": ("factors", self.als_factors, "regularization", self.als_regularization),
            "ease": ("regularization", self.ease_regularization, "", None),
            "dlae": ("regularization", self.dlae_regularization, "dropout", self.dlae_dropout),
            "rp3beta": ("alpha", self.rp3beta_alpha, "beta", self.rp3beta_beta),
        }
        if kind not in lists:
            return None
        first, first_values, second, second_values = lists[kind]
        if not first_values and not second_values:
            return None
        base = self.base(kind)
        if not second:
            return [Candidate(replace(base, **{first: value})) for value in first_values or ()]
        return [
            Candidate(replace(base, **{first: one, second: other}))
            for one in first_values or (getattr(base, first),)
            for other in second_values or (getattr(base, second),)
        ]

    def kinds(self, num_items: int) -> tuple[list[str], list[str]]:
        """The kinds to try on `num_items` items, and notes on any left out.

        An items x items kind is left out when its matrix exceeds the memory limit, unless it was
        the only model asked for: then the refusal is the answer.
        """
        kinds, notes = [], []
        for name in self.models:
            base = self.base(name)
            if KINDS[name].item_item:
                try:
                    check_memory(num_items, base.max_memory_mb, name.upper())
                except DataError as error:
                    if len(self.models) == 1:
                        raise
                    notes.append(f"{name} left out: {error}")
                    continue
            kinds.append(name)
        return kinds, notes
