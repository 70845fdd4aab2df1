"""A log-scale search of a model's main hyperparameters, narrowing around the best point.

A grid with a factor of five between its values steps over the optimum; a finer grid costs fits
on values far from it. The search starts from published or preset-derived values, tries one step
up and one step down on each hyperparameter in turn and moves to the best point; a hyperparameter
whose best stayed put has its step halved on the log scale (the square root of the factor), one
that moved keeps its step, so the search walks to a far optimum and then narrows around it,
until the budget of points is spent, every step is below `MIN_STEP`, or the caller says the next
round costs more time than is left. Every point tried is kept: the choice (selection.py) compares
all of them on the validation folds.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

MIN_STEP = 1.15  # steps below 15% move the score less than the validation's noise


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter searched on a log scale: its field, bounds and first step.

    The search starts from the value the base parameters hold (the model's default or an option).
    """

    name: str
    low: float
    high: float
    step: float  # the first round's factor between neighbouring points
    integer: bool = False

    def moved(self, value: float, factor: float) -> float | int:
        """`value` times `factor`, kept within the bounds (rounded for an integer)."""
        moved = min(max(value * factor, self.low), self.high)
        return round(moved) if self.integer else float(f"{moved:.3g}")


def search(
    base: Any,
    dimensions: Sequence[Dimension],
    score: Callable[[Any], float],
    budget: int,
    affordable: Callable[[int], bool] = lambda points: True,
) -> list[Any]:
    """The parameter sets tried (the dataclass `base` with `dimensions` varied), in order.

    `score(params)` is called once per new point, at most `budget` times; higher is better.
    `affordable(points)` is asked before each round with the points it may add; a round it refuses
    is not started (the start point is always scored, so there is always a pick).
    """
    if budget < 1 or not dimensions:
        return [base] if budget >= 1 else []
    tried: dict[Any, float] = {}

    def tried_score(params: Any) -> float | None:
        if params not in tried:
            if len(tried) >= budget:
                return None
            tried[params] = score(params)
        return tried[params]

    current = start_point(base, dimensions)
    tried_score(current)
    steps = {d.name: d.step for d in dimensions}
    while len(tried) < budget and max(steps.values()) >= MIN_STEP:
        if not affordable(2 * sum(step >= MIN_STEP for step in steps.values())):
            break
        for dimension in dimensions:
            step = steps[dimension.name]
            if step < MIN_STEP:
                continue
            value = getattr(current, dimension.name)
            for factor in (1 / step, step):
                neighbour = replace(current, **{dimension.name: dimension.moved(value, factor)})
                tried_score(neighbour)
            # Ties keep the current point: no move without evidence.
            moved_to = max(
                (p for p in tried if _differs_only_in(p, current, dimension.name)),
                key=lambda p: (tried[p], p == current),
            )
            if moved_to == current:
                # The best is within a step either side: narrow around it.
                steps[dimension.name] = step**0.5
            current = moved_to
    return list(tried)


def start_point(base: Any, dimensions: Sequence[Dimension]) -> Any:
    """The first point the search scores: `base` with its searched values rounded into bounds."""
    return replace(base, **{d.name: d.moved(getattr(base, d.name), 1.0) for d in dimensions})


def _differs_only_in(params: Any, current: Any, name: str) -> bool:
    return replace(params, **{name: getattr(current, name)}) == current
