"""The drift baseline the training job writes next to the model (model/training/drift_baseline.py)."""

import gzip
import json
import tarfile

import numpy as np
import pytest

from model.aws import framework_archive as package
from model.data.interactions import Interactions, write_jsonl
from model.data.synthetic import taste_interactions
from model.training import run as train_cli
from model.training.als import TrainingParams
from model.training.drift_baseline import (
    BASELINE_FILE,
    HISTORY_EDGES,
    build_baseline,
    history_histogram,
    popularity_bin_starts,
    read_baseline,
    write_baseline,
)


def interactions_of(rows):
    return Interactions.from_rows(rows)


def test_items_are_ordered_by_training_popularity_ties_by_id():
    rows = [("u1", "b", 1, 10), ("u2", "b", 1, 20), ("u1", "c", 1, 30), ("u3", "a", 1, 40)]
    baseline = build_baseline(interactions_of(rows), "v1")
    assert baseline["items"] == ["b", "a", "c"]
    assert (baseline["min_timestamp"], baseline["max_timestamp"]) == (10.0, 40.0)
    assert baseline["model_version"] == "v1"


def test_popularity_bins_hold_equal_shares_of_the_interactions():
    counts = np.full(100, 7)  # 100 equally popular items: ten items per bin
    assert popularity_bin_starts(counts) == list(range(0, 100, 10))


def test_an_item_with_half_the_interactions_fills_the_first_bins():
    # One item holds half: it alone is bin 0, and bins 1..4 are empty (they start where 5 does).
    starts = popularity_bin_starts(np.array([50] + [1] * 50))
    assert starts[0] == 0
    assert starts[1] == starts[4]
    assert len(starts) == 10


def test_history_lengths_fall_into_the_fixed_bins_last_one_open():
    counts = history_histogram(np.array([1, 1, 2, 4, 10_000]))
    assert counts.tolist() == [0, 2, 1, 1] + [0] * (len(HISTORY_EDGES) - 5) + [1]


def test_baseline_shares_sum_to_one_and_users_are_counted_once():
    data = taste_interactions(num_users=40, num_items=30, num_categories=3, seed=1)
    baseline = build_baseline(data, "v")
    assert sum(baseline["popularity_shares"]) == pytest.approx(1.0)
    assert sum(baseline["history_lengths"]["counts"]) == len(set(data.user_ids.tolist()))


def test_write_then_read_gives_the_same_baseline_and_the_same_bytes(tmp_path):
    baseline = build_baseline(interactions_of([("u", "1", 1, 5)]), "v")
    first = write_baseline(baseline, tmp_path).read_bytes()
    assert read_baseline(tmp_path / BASELINE_FILE) == baseline
    assert write_baseline(baseline, tmp_path).read_bytes() == first
    (tmp_path / "plain.json").write_text(json.dumps(baseline))
    assert read_baseline(tmp_path / "plain.json") == baseline


def test_a_million_item_catalogue_stays_under_four_megabytes(tmp_path):
    # Shuffled 7-digit ids, each seen once or twice: the catalogue is what takes the room.
    rng = np.random.default_rng(0)
    items = (rng.permutation(1_000_000) + 1_000_000).astype(str)
    extra = items[:200_000]
    all_items = np.concatenate([items, extra])
    data = Interactions(
        user_ids=(np.arange(len(all_items)) % 50_000).astype(str),
        item_ids=all_items,
        weights=np.ones(len(all_items), dtype=np.float32),
        timestamps=np.arange(len(all_items), dtype=np.float64),
    )
    path = write_baseline(build_baseline(data, "v"), tmp_path)
    assert path.stat().st_size < 4 * 2**20
    assert len(json.loads(gzip.decompress(path.read_bytes()))["items"]) == 1_000_000


def test_training_writes_the_baseline_next_to_the_model(tmp_path):
    data = taste_interactions(num_users=30, num_items=20, num_categories=2, seed=3)
    write_jsonl(tmp_path / "train.jsonl", data)
    metrics = train_cli.train(
        tmp_path / "train.jsonl",
        tmp_path / "model",
        TrainingParams(factors=4, iterations=2),
        run_evaluation=False,
    )
    baseline = read_baseline(tmp_path / "model" / BASELINE_FILE)
    assert baseline["model_version"] == metrics["model_version"]
    assert sorted(baseline["items"]) == sorted(set(data.item_ids.tolist()))
    assert baseline["max_timestamp"] == float(data.timestamps.max())
    # The artefact carries it at its root; the endpoint's code does not need its module.
    with tarfile.open(package.build_archive(tmp_path / "model", tmp_path / "model.tar.gz")) as tar:
        names = set(tar.getnames())
    assert BASELINE_FILE in names
    assert "code/model/drift_baseline.py" not in names
