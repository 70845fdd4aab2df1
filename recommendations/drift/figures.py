"""The drift figures' arithmetic: Jensen-Shannon divergence, the unseen share, the model's age.

Jensen-Shannon rather than PSI: it is bounded (0 for identical distributions, 1 for disjoint
ones with base-2 logarithms), so one threshold means the same for every shop, and it is defined
when a bin is empty on one side, which drift makes common (items the model never saw have no
training share; new customers have histories no training user had). PSI is infinite there.
"""

from datetime import datetime

import numpy as np
from scipy.spatial.distance import jensenshannon

SECONDS_PER_DAY = 86_400


def jensen_shannon(
    live: np.ndarray | list[float], reference: np.ndarray | list[float]
) -> float | None:
    """Jensen-Shannon divergence (base 2, 0..1) of two histograms over the same bins.

    Counts or shares: each side is normalised. None when either side is empty.
    """
    p = np.asarray(live, dtype=np.float64)
    q = np.asarray(reference, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"histograms over different bins: {p.shape} and {q.shape}")
    if p.sum() <= 0 or q.sum() <= 0:
        return None
    # scipy returns the distance, the divergence's square root.
    divergence = float(jensenshannon(p, q, base=2)) ** 2
    return min(1.0, max(0.0, divergence))


def unseen_share(known: np.ndarray) -> float | None:
    """Share of products the model never saw, from one known-or-not flag per product."""
    if len(known) == 0:
        return None
    return float(np.count_nonzero(~known)) / len(known)


def age_days(newest_event: datetime, at: datetime) -> float:
    """Days from the model's newest training event to `at`."""
    return (at - newest_event).total_seconds() / SECONDS_PER_DAY
