"""EASE: the closed form, the memory refusal, saving and loading, and serving through inference.py."""

import json

import numpy as np
import pytest

from model.data.interactions import DataError, Interactions, write_jsonl
from model.data.synthetic import START, taste_interactions
from model.inference import handlers as inference
from model.inference.recommender import METADATA_FILE, Recommender
from model.training import run as train_cli
from model.training.als import TrainingParams, fit
from model.training.candidates import SearchGrid
from model.training.ease import EaseParams, check_memory, ease_weights, fit_ease, memory_needed_mb
from model.training.encoding import encode

JSON = "application/json"


@pytest.fixture(scope="module")
def data():
    return taste_interactions(num_users=80, num_items=25, num_categories=3, seed=13)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, data):
    directory = tmp_path_factory.mktemp("ease-model")
    fit_ease(data, EaseParams(regularization=20.0)).save(directory)
    return directory


def direct_ease(binary: np.ndarray, regularization: float) -> np.ndarray:
    """Steck's formula written out in float64: B = I - P diag(1/diag(P)), diagonal zeroed."""
    gram = binary.T @ binary + regularization * np.eye(binary.shape[1])
    inverse = np.linalg.inv(gram)
    weights = np.eye(len(inverse)) - inverse / np.diag(inverse)[np.newaxis, :]
    np.fill_diagonal(weights, 0.0)
    return weights


def test_ease_weights_match_the_closed_form_on_a_tiny_matrix():
    # Repeated purchases (weight 3) count once: EASE fits the binary matrix.
    interactions = Interactions.from_rows(
        [
            ("u1", "a", 3.0, START),
            ("u1", "b", 1.0, START),
            ("u2", "b", 1.0, START),
            ("u2", "c", 1.0, START),
            ("u3", "a", 1.0, START),
            ("u3", "c", 1.0, START),
            ("u3", "d", 1.0, START),
            ("u4", "d", 1.0, START),
        ]
    )
    user_items = encode(interactions).user_items()
    weights = ease_weights(user_items, regularization=0.5)
    expected = direct_ease((user_items.toarray() > 0).astype(float), 0.5)
    assert weights.dtype == np.float32
    np.testing.assert_allclose(weights, expected, rtol=1e-4, atol=1e-6)
    assert not np.diag(weights).any()


def test_ease_model_scores_are_history_times_weights(data):
    model = fit_ease(data, EaseParams(regularization=20.0))
    user_items = encode(data).user_items()
    np.testing.assert_allclose(
        model.item_weights, direct_ease((user_items.toarray() > 0) * 1.0, 20.0), atol=1e-4
    )
    row = int(np.searchsorted(model.user_ids, "user-7"))
    scores = (user_items[row].toarray() > 0).astype(np.float32) @ model.item_weights
    scores[0, model.seen_items(row)] = -np.inf
    best = model.item_ids[np.argsort(-scores[0], kind="stable")[:5]].tolist()
    assert [item for item, _ in model.recommend("user-7", 5).items] == best


def test_ease_refuses_a_catalogue_whose_matrix_exceeds_the_memory_limit(data):
    with pytest.raises(DataError, match=r"25 items.*limit of 0 MB \(--max-memory-mb\)"):
        fit_ease(data, EaseParams(max_memory_mb=0.001))
    # The check is arithmetic, before any allocation: 1M items would need terabytes.
    with pytest.raises(DataError, match=r"1,000,000 items.*limit of 4,096 MB"):
        check_memory(1_000_000, 4096)
    assert memory_needed_mb(20_000) == pytest.approx(20_000**2 * 4 * 1.1 / 2**20)
    check_memory(20_000, 2200)


def test_train_cli_explains_the_memory_refusal_and_auto_falls_back_to_als(tmp_path, data, capsys):
    (tmp_path / "train").mkdir()
    write_jsonl(tmp_path / "train" / "interactions.jsonl", data)
    refused = ["--train", str(tmp_path / "train"), "--model-dir", str(tmp_path / "m1")]
    assert train_cli.main([*refused, "--model", "ease", "--max-memory-mb", "0.001"]) == 2
    assert "EASE needs about" in capsys.readouterr().err
    metrics = train_cli.train(
        tmp_path / "train",
        tmp_path / "m2",
        SearchGrid(("als", "ease"), ease=EaseParams(max_memory_mb=0.001), als_factors=(4,)),
        run_evaluation=False,
    )
    assert metrics["model"] == "als"
    assert "ease left out: EASE needs about" in metrics["selection"]["notes"][0]


def test_ease_model_saves_plain_arrays_and_loads_through_recommender_load(model_dir, data):
    metadata = json.loads((model_dir / METADATA_FILE).read_text())
    assert metadata["kind"] == "ease"
    assert metadata["params"]["regularization"] == 20.0
    with np.load(model_dir / "model.npz", allow_pickle=False) as arrays:
        assert set(arrays.files) == {
            "user_ids",
            "item_ids",
            "seen_indptr",
            "seen_indices",
            "prior_scores",
            "item_weights",
        }
    loaded = Recommender.load(model_dir)
    fitted = fit_ease(data, EaseParams(regularization=20.0))
    assert loaded.kind == "ease"
    assert loaded.model_version == fitted.model_version
    np.testing.assert_array_equal(loaded.item_weights, fitted.item_weights)


def test_a_model_saved_before_ease_existed_loads_as_als(tmp_path, data):
    fit(data, TrainingParams(factors=4, iterations=3)).save(tmp_path)
    metadata = json.loads((tmp_path / METADATA_FILE).read_text())
    assert metadata.pop("kind") == "als"
    (tmp_path / METADATA_FILE).write_text(json.dumps(metadata))
    loaded = Recommender.load(tmp_path)
    assert loaded.kind == "als" and loaded.recommend("user-3", 3).prior is False


def test_ease_model_version_depends_on_lambda_not_on_the_memory_limit(data):
    base = fit_ease(data, EaseParams(regularization=20.0)).model_version
    assert base.startswith("ease-")
    assert fit_ease(data, EaseParams(regularization=20.0, max_memory_mb=100)).model_version == base
    assert fit_ease(data, EaseParams(regularization=30.0)).model_version != base


def answer(model, document):
    request = inference.input_fn(json.dumps(document).encode(), JSON)
    return json.loads(inference.output_fn(inference.predict_fn(request, model), JSON))


def test_ease_model_serves_through_the_four_handler_functions(model_dir, data):
    model = inference.model_fn(model_dir)
    known = answer(model, {"user_id": "user-3", "num_results": 6, "exclude": ["1"]})
    assert known["prior"] is False
    assert known["model_version"] == model.model_version
    items = [r["item_id"] for r in known["recommendations"]]
    bought = set(data.item_ids[data.user_ids == "user-3"].tolist())
    assert len(items) == 6 and bought.isdisjoint(items) and "1" not in items
    scores = [r["score"] for r in known["recommendations"]]
    assert scores == sorted(scores, reverse=True)

    stranger = answer(model, {"user_id": "never-seen", "num_results": 4})
    assert stranger["prior"] is True
    prior_order = model.item_ids[np.argsort(-model.prior_scores, kind="stable")[:4]].tolist()
    assert [r["item_id"] for r in stranger["recommendations"]] == prior_order

    batch = answer(model, {"instances": [{"user_id": "user-3", "num_results": 6}] * 2})
    assert batch["predictions"][0] == batch["predictions"][1]
