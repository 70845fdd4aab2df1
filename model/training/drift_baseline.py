"""The drift baseline: what the training data looked like, for the app to compare live traffic with.

Written next to the model as `drift_baseline.json.gz` (gzip'd JSON; the endpoint never reads it):

- `items`: the catalogue the model saw, item ids ordered by training popularity (interactions per
  item, most first; ties by id). The one list serves as the catalogue and as the popularity order.
- `popularity_bin_starts`: where each of POPULARITY_BINS popularity bins starts in `items`. Bin k
  holds the most popular items left that make up the k-th tenth of all training interactions, so
  the training interactions fall about evenly into the bins; `popularity_shares` are their exact
  shares. An item the model never saw falls into a bin of its own after these (share 0 here).
- `history_lengths`: users per bin of interactions per user, with the fixed HISTORY_EDGES
  (bin i is edges[i] <= n < edges[i+1]; the last bin is open).
- `min_timestamp`, `max_timestamp`: the date range of the data (seconds since the epoch).

Gzip keeps a 1M-item catalogue's file to a few megabytes (ids are short digit strings).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..data.interactions import Interactions

BASELINE_FILE = "drift_baseline.json.gz"
FORMAT = 1
POPULARITY_BINS = 10
# Interactions per user: fixed edges, so that baselines of different models compare.
HISTORY_EDGES = (0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500)


def build_baseline(interactions: Interactions, model_version: str) -> dict[str, Any]:
    """The baseline of `interactions`: popularity order and bins, history lengths, date range."""
    if len(interactions) == 0:
        raise ValueError("no interactions: a baseline needs training data")
    items, counts = np.unique(interactions.item_ids, return_counts=True)
    # Most interactions first; np.unique sorted the ids, and a stable sort keeps that for ties.
    order = np.argsort(-counts, kind="stable")
    items, counts = items[order], counts[order]
    starts = popularity_bin_starts(counts)
    ends = [*starts[1:], len(items)]
    total = int(counts.sum())
    shares = [int(counts[s:e].sum()) / total for s, e in zip(starts, ends, strict=True)]
    _, per_user = np.unique(interactions.user_ids, return_counts=True)
    return {
        "format": FORMAT,
        "model_version": model_version,
        "items": items.tolist(),
        "popularity_bin_starts": starts,
        "popularity_shares": shares,
        "history_lengths": {
            "edges": list(HISTORY_EDGES),
            "counts": history_histogram(per_user).tolist(),
        },
        "min_timestamp": float(interactions.timestamps.min()),
        "max_timestamp": float(interactions.timestamps.max()),
        "interactions": total,
        "users": len(per_user),
    }


def popularity_bin_starts(counts: np.ndarray, bins: int = POPULARITY_BINS) -> list[int]:
    """Start index of each bin in `counts` (sorted descending): equal shares of the total.

    A bin may be empty (start equal to the next one's) when one item holds more than a tenth.
    """
    cumulative = np.cumsum(counts)
    total = cumulative[-1]
    # The item that crosses k/bins of the total starts bin k (the first always starts bin 0).
    thresholds = total * np.arange(1, bins) / bins
    return [0, *np.searchsorted(cumulative, thresholds, side="right").tolist()]


def history_histogram(lengths: np.ndarray, edges: tuple[int, ...] = HISTORY_EDGES) -> np.ndarray:
    """Users per bin of `lengths` with lower-inclusive `edges`, the last bin open."""
    bins = np.searchsorted(np.asarray(edges), lengths, side="right") - 1
    return np.bincount(np.clip(bins, 0, len(edges) - 1), minlength=len(edges))


def write_baseline(baseline: dict[str, Any], model_dir: Path | str) -> Path:
    """Write `baseline` as `drift_baseline.json.gz` into `model_dir`; its path."""
    path = Path(model_dir) / BASELINE_FILE
    data = json.dumps(baseline, separators=(",", ":"), sort_keys=True).encode()
    # mtime=0: the same data gives the same bytes (the artefact is reproducible).
    path.write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
    return path


def read_baseline(path: Path | str) -> dict[str, Any]:
    """Read a baseline file (gzip'd or plain JSON)."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return json.loads(data)
