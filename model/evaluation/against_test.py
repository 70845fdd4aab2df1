"""How well the validation predicted the test: the pick against the best, kinds against EASE.

`model.evaluate` scores every candidate the choice tried on the test users too, so it can say
how far the pick is behind the best candidate on test (with the paired bootstrap interval the
gate uses), how each kind's best on validation does against EASE's, and how well the validation
order of the candidates agrees with their test order, for the folds and for the newest order
alone.
"""

from dataclasses import dataclass

import numpy as np

from ..training.selection import Selection
from ..training.validation import rank_agreement
from .gate import paired_interval

REFERENCE_KIND = "ease"


@dataclass(frozen=True)
class PickOnTest:
    """How far the pick is behind the best candidate on test: the lead and its 95% interval."""

    best: str
    lead: float
    low: float
    high: float


@dataclass(frozen=True)
class KindOnTest:
    """One kind's best candidate on validation, scored on test against the reference kind's."""

    kind: str
    label: str
    ndcg: float
    lead: float  # over the reference kind's best on validation, NDCG@k on test
    low: float
    high: float


def kinds_against_reference(selection: Selection, per_user_ndcg: dict) -> list[KindOnTest]:
    """Each kind's best candidate on validation, its test NDCG and lead over EASE's best."""
    best: dict[str, tuple] = {}
    for candidate, scores in selection.validation:
        if scores is None:
            continue
        held = best.get(candidate.kind)
        if held is None or (scores.ndcg, scores.recall) > (held[1].ndcg, held[1].recall):
            best[candidate.kind] = (candidate, scores)
    if REFERENCE_KIND not in best or len(best) < 2:
        return []
    reference = per_user_ndcg[best[REFERENCE_KIND][0]]
    kinds = []
    for kind, (candidate, _) in best.items():
        ndcg = per_user_ndcg[candidate]
        low, high = paired_interval(ndcg, reference)
        lead = float(np.mean(ndcg - reference))
        kinds.append(
            KindOnTest(
                kind,
                candidate.label,
                round(float(ndcg.mean()), 6),
                round(lead, 6),
                round(low, 6),
                round(high, 6),
            )
        )
    return kinds


def against_test(
    selection: Selection, per_user_ndcg: dict
) -> tuple[PickOnTest | None, dict[str, dict[str, float] | None]]:
    """The pick's lag behind the best candidate on test, and the validation-test agreement.

    `per_user_ndcg` holds each candidate's per-user NDCG on the test users, in one order.
    """
    scored = [(c, s) for c, s in selection.validation if s is not None]
    if not scored or not all(len(per_user_ndcg[c]) for c, _ in scored):
        return None, {}
    test = [float(per_user_ndcg[c].mean()) for c, _ in scored]
    best = scored[int(np.argmax(test))][0]
    chosen = per_user_ndcg[selection.chosen]
    low, high = paired_interval(per_user_ndcg[best], chosen)
    lead = float(np.mean(per_user_ndcg[best] - chosen))
    pick = PickOnTest(best.label, round(lead, 6), round(low, 6), round(high, 6))
    agreement = {
        "folds": rank_agreement([s.ndcg for _, s in scored], test),
        "newest_order": rank_agreement([selection.newest_fold_ndcg[c] for c, _ in scored], test),
    }
    return pick, agreement
