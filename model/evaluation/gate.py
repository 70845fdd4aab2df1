"""The gate before a model goes live: a candidate against the live model and the fallback.

All rankings are scored on the same newest held-out period of the shop's export: the
interactions at or after `since` (by default the last `period_days` days), with what each
customer did before it as their history. A model that was trained on that period would be
judged on what it has already seen, so the gate refuses it (train with --hold-out-days).
The candidate passes when, for every opponent, the 95 % paired bootstrap interval of its
per-customer NDCG@k lead lies wholly above the margin.
"""

import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap

from ..data.interactions import Interactions
from ..inference.recommender import METADATA_FILE, Recommender
from .fallback_baseline import fallback_available, fallback_rankings
from .metrics import HeldOut, held_out, popularity_rankings, ranking_scores

DAY = 86_400.0
CANDIDATE = "candidate"
LIVE = "live"
FALLBACK_POPULARITY = "popularity"
RESAMPLES = 2000


class GateError(ValueError):
    """The comparison cannot be made fairly (no held-out customers, a model saw the period)."""


@dataclass(frozen=True)
class Comparison:
    """The candidate's per-customer NDCG lead over one opponent, with its interval."""

    opponent: str
    lead: float
    low: float
    high: float
    margin: float

    @property
    def beaten(self) -> bool:
        """Whether the whole interval lies above the margin."""
        return self.low > self.margin


@dataclass(frozen=True)
class Verdict:
    """The gate's table, its comparisons and its decision."""

    k: int
    since: float
    customers: int
    scores: dict[str, dict[str, float]]
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def approved(self) -> bool:
        """True when the candidate beats every opponent by the margin."""
        return bool(self.comparisons) and all(c.beaten for c in self.comparisons)

    @property
    def reason(self) -> str:
        """One sentence: why the candidate passes or not."""
        lost = [c for c in self.comparisons if not c.beaten]
        if not lost:
            return (
                f"approved: beats {', '.join(c.opponent for c in self.comparisons)} "
                f"by more than {self.comparisons[0].margin:g} NDCG@{self.k} (95% interval)"
            )
        return "rejected: " + "; ".join(
            f"lead over {c.opponent} {c.lead:+.4f}, interval [{c.low:+.4f}, {c.high:+.4f}] "
            f"not above {c.margin:g}"
            for c in lost
        )


def load_model(path: Path | str) -> Recommender:
    """A model from a model folder or a model.tar.gz (a training job's artefact)."""
    path = Path(path)
    if path.is_dir():
        return Recommender.load(path)
    if not tarfile.is_tarfile(path):
        raise GateError(f"{path} is neither a model folder nor a model.tar.gz")
    with tempfile.TemporaryDirectory() as folder, tarfile.open(path) as archive:
        # The "data" filter refuses absolute paths, links out of the folder and device files.
        archive.extractall(folder, filter="data")
        if not (Path(folder) / METADATA_FILE).exists():
            raise GateError(f"{path} holds no {METADATA_FILE} at its root")
        return Recommender.load(folder)


def split_period(
    interactions: Interactions, since: float | None, period_days: float
) -> tuple[Interactions, Interactions, float]:
    """(history before the period, the period, its start): `since`, or the last `period_days`."""
    if not len(interactions):
        raise GateError("the export holds no interactions")
    start = since if since is not None else float(interactions.timestamps.max()) - period_days * DAY
    in_period = interactions.timestamps >= start
    return interactions.select(~in_period), interactions.select(in_period), start


def per_customer_ndcg(rankings: list[list[str]], relevant: list[set[str]], k: int) -> np.ndarray:
    """NDCG@k (binary relevance) of each customer's ranking, in order."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = np.empty(len(relevant))
    for n, (items, wanted) in enumerate(zip(rankings, relevant, strict=True)):
        hits = np.array([item in wanted for item in items[:k]], dtype=float)
        gain = float((hits * discounts[: len(hits)]).sum())
        values[n] = gain / discounts[: min(len(wanted), k)].sum()
    return values


def paired_interval(
    candidate: np.ndarray, opponent: np.ndarray, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean per-customer difference (paired)."""
    differences = candidate - opponent
    if np.ptp(differences) == 0:
        # Every customer differs by the same amount: resampling cannot move the mean.
        return float(differences[0]), float(differences[0])
    result = bootstrap(
        (differences,),
        np.mean,
        confidence_level=confidence,
        n_resamples=RESAMPLES,
        method="percentile",
        # `random_state`, not `rng`: scipy 1.13 and 1.14 (in our range) know only this name.
        random_state=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def model_rankings(model: Recommender, history: dict[str, set[str]], users: list[str], k: int):
    """The model's top k for each customer, leaving out what they had before the period."""
    requests = [(user, k, tuple(sorted(history.get(user, ())))) for user in users]
    return [[item for item, _ in ranking.items] for ranking in model.recommend_many(requests)]


def saw_the_period(model: Recommender, period: HeldOut) -> float:
    """The share of held-out (customer, item) pairs the model lists as seen in its training."""
    pairs = seen = 0
    for user, wanted in zip(period.user_ids, period.relevant, strict=True):
        pairs += len(wanted)
        if model.knows_user(user):
            row = int(np.searchsorted(model.user_ids, user))
            known = set(model.item_ids[model.seen_items(row)].tolist())
            seen += len(wanted & known)
    return seen / pairs if pairs else 0.0


def compare(
    candidate: Recommender,
    live: Recommender | None,
    interactions: Interactions,
    *,
    since: float | None = None,
    period_days: float = 7.0,
    k: int = 10,
    margin: float = 0.0,
    seed: int = 0,
) -> Verdict:
    """Score candidate, live model and fallback on the newest period; compare paired."""
    before, period, start = split_period(interactions, since, period_days)
    evaluation = held_out(before, period)
    if not evaluation.user_ids:
        raise GateError("no customer bought anything new in the held-out period")
    models = {CANDIDATE: candidate} | ({LIVE: live} if live is not None else {})
    for name, model in models.items():
        share = saw_the_period(model, evaluation)
        if share > 0:
            fix = (
                "train it on data before the period (model.train --hold-out-days)"
                if name == CANDIDATE
                else "start the period after its newest training event (--since)"
            )
            raise GateError(
                f"the {name} model was trained on {share:.0%} of the held-out period's "
                f"purchases: {fix}"
            )
    history: dict[str, set[str]] = {}
    for user, item in zip(before.user_ids.tolist(), before.item_ids.tolist(), strict=True):
        history.setdefault(user, set()).add(item)
    users, relevant = evaluation.user_ids, evaluation.relevant
    rankings = {name: model_rankings(m, history, users, k) for name, m in models.items()}
    if fallback_available() and len(before):
        rankings |= fallback_rankings(before, users, k)
    else:
        rankings[FALLBACK_POPULARITY] = popularity_rankings(before, users, k)
    catalogue = len(np.unique(interactions.item_ids))
    scores = {}
    per_customer = {}
    for name, ranked in rankings.items():
        summary = ranking_scores(ranked, relevant, k, catalogue)
        scores[name] = {
            "ndcg": summary.ndcg,
            "precision": summary.precision,
            "recall": summary.recall,
            "coverage": summary.coverage,
        }
        per_customer[name] = per_customer_ndcg(ranked, relevant, k)
    comparisons = []
    for name in rankings:
        if name == CANDIDATE:
            continue
        low, high = paired_interval(per_customer[CANDIDATE], per_customer[name], seed=seed)
        lead = float(np.mean(per_customer[CANDIDATE] - per_customer[name]))
        comparisons.append(Comparison(name, lead, low, high, margin))
    return Verdict(k, start, len(users), scores, comparisons)


def format_table(verdict: Verdict) -> str:
    """The scores and the candidate's lead over each opponent, as fixed-width text."""
    k = verdict.k
    leads = {c.opponent: c for c in verdict.comparisons}
    lines = [
        f"{'ranking':<30} {'ndcg@' + str(k):>8} {'prec@' + str(k):>8} {'recall@' + str(k):>9} "
        f"{'coverage':>8}  candidate's lead (95% CI)"
    ]
    for name, s in verdict.scores.items():
        lead = leads.get(name)
        shown = f"{lead.lead:+.4f} [{lead.low:+.4f}, {lead.high:+.4f}]" if lead else "-"
        lines.append(
            f"{name:<30} {s['ndcg']:>8.4f} {s['precision']:>8.4f} {s['recall']:>9.4f} "
            f"{s['coverage']:>8.4f}  {shown}"
        )
    lines.append(f"{verdict.customers} customers with new purchases in the held-out period")
    lines.append(verdict.reason)
    return "\n".join(lines)
