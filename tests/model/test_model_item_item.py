"""DLAE and RP3beta: their closed forms, and serving them as EASE is served."""

import json

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from model.data.interactions import DataError, write_jsonl
from model.data.synthetic import taste_interactions
from model.inference import handlers as inference
from model.inference.recommender import METADATA_FILE, Recommender
from model.training import run as train_cli
from model.training.dlae import DlaeParams, fit_dlae
from model.training.ease import EaseParams, ease_weights, fit_ease
from model.training.encoding import encode
from model.training.rp3beta import Rp3BetaParams, fit_rp3beta, rp3beta_weights

JSON = "application/json"
FITS = {
    "dlae": lambda data: fit_dlae(data, DlaeParams(regularization=20.0, dropout=0.3)),
    "rp3beta": lambda data: fit_rp3beta(data, Rp3BetaParams(alpha=0.8, beta=0.4)),
}


@pytest.fixture(scope="module")
def data():
    return taste_interactions(num_users=80, num_items=25, num_categories=3, seed=13)


@pytest.fixture(scope="module")
def binary(data):
    return (encode(data).user_items().toarray() > 0).astype(float)


def direct_dropout(binary: np.ndarray, regularization: float, dropout: float, zero_diagonal: bool):
    """Steck 2020 written out in float64: Lambda = lambda I + p/(1-p) diag(XtX), P = (XtX + Lambda)^-1."""
    gram = binary.T @ binary
    penalty = regularization + dropout / (1 - dropout) * np.diag(gram)
    inverse = np.linalg.inv(gram + np.diag(penalty))
    if not zero_diagonal:
        return np.eye(len(gram)) - inverse * penalty[np.newaxis, :]  # DLAE: I - P Lambda
    weights = np.eye(len(gram)) - inverse / np.diag(inverse)[np.newaxis, :]
    np.fill_diagonal(weights, 0.0)
    return weights


def test_the_dropout_penalty_matches_steck_2020s_closed_forms(binary):
    matrix = csr_matrix(binary)
    for zero_diagonal in (True, False):
        weights = ease_weights(matrix, 20.0, dropout=0.3, zero_diagonal=zero_diagonal)
        expected = direct_dropout(binary, 20.0, 0.3, zero_diagonal)
        np.testing.assert_allclose(weights, expected, rtol=1e-3, atol=1e-5)
    # No dropout is EASE; dropout penalises popular items more, so it changes the weights.
    np.testing.assert_allclose(
        ease_weights(matrix, 20.0, dropout=0.0), ease_weights(matrix, 20.0), atol=1e-7
    )
    assert not np.allclose(ease_weights(matrix, 20.0, dropout=0.3), ease_weights(matrix, 20.0))


def test_rp3beta_weights_are_the_damped_three_step_walk(binary):
    alpha, beta = 0.8, 0.4
    user_degree, item_degree = binary.sum(axis=1), binary.sum(axis=0)
    walk = (binary / item_degree**alpha).T @ (binary / user_degree[:, np.newaxis] ** alpha)
    expected = walk / item_degree[np.newaxis, :] ** beta
    np.fill_diagonal(expected, 0.0)
    weights = rp3beta_weights(csr_matrix(binary), alpha, beta)
    assert weights.dtype == np.float32
    np.testing.assert_allclose(weights, expected, rtol=1e-4, atol=1e-7)
    # A larger beta damps the most popular item's column more than the least popular one's.
    damped = rp3beta_weights(csr_matrix(binary), alpha, 1.0)
    popular, rare = int(np.argmax(item_degree)), int(np.argmin(item_degree))
    ratio = damped / np.where(weights > 0, weights, 1)
    assert ratio[:, popular].max() < ratio[:, rare][weights[:, rare] > 0].min()


@pytest.mark.parametrize("kind", sorted(FITS))
def test_each_kind_saves_loads_and_serves_through_the_handler_functions(kind, data, tmp_path):
    fitted = FITS[kind](data)
    assert fitted.kind == kind and fitted.model_version.startswith(f"{kind}-")
    fitted.save(tmp_path)
    assert json.loads((tmp_path / METADATA_FILE).read_text())["kind"] == kind
    model = inference.model_fn(tmp_path)
    assert isinstance(model, Recommender) and model.kind == kind
    np.testing.assert_array_equal(model.item_weights, fitted.item_weights)
    body = json.dumps({"user_id": "user-3", "num_results": 5, "exclude": ["1"]}).encode()
    answer = json.loads(inference.transform_fn(model, body, JSON, JSON)[0])
    items = [r["item_id"] for r in answer["recommendations"]]
    bought = set(data.item_ids[data.user_ids == "user-3"].tolist())
    assert answer["prior"] is False and answer["model_version"] == fitted.model_version
    assert len(items) == 5 and bought.isdisjoint(items) and "1" not in items
    # The ranking is the user's binary history times the weights, unseen items only.
    row = int(np.searchsorted(model.user_ids, "user-3"))
    scores = (encode(data).user_items()[row].toarray()[0] > 0) @ model.item_weights
    scores[model.seen_items(row)] = -np.inf
    scores[model.item_ids.tolist().index("1")] = -np.inf
    assert items == model.item_ids[np.argsort(-scores, kind="stable")[:5]].tolist()


def test_kinds_with_the_same_data_have_different_versions(data):
    versions = {kind: fit(data).model_version for kind, fit in FITS.items()}
    versions["ease"] = fit_ease(data, EaseParams(regularization=20.0)).model_version
    assert len(set(versions.values())) == 3


def test_each_item_item_kind_refuses_a_catalogue_over_the_memory_limit(data):
    with pytest.raises(DataError, match="DLAE needs about"):
        fit_dlae(data, DlaeParams(max_memory_mb=0.001))
    with pytest.raises(DataError, match="RP3beta needs about"):
        fit_rp3beta(data, Rp3BetaParams(max_memory_mb=0.001))


def test_train_cli_fits_and_saves_the_kind_asked_for(tmp_path, data, capsys):
    (tmp_path / "train").mkdir()
    write_jsonl(tmp_path / "train" / "interactions.jsonl", data)
    options = ["--train", str(tmp_path / "train"), "--model-dir", str(tmp_path / "model")]
    assert train_cli.main([*options, "--model", "rp3beta", "--fit-budget", "12"]) == 0
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["model"] == "rp3beta"
    assert {c["model"] for c in metrics["selection"]["candidates"]} == {"rp3beta"}
    assert Recommender.load(tmp_path / "model").kind == "rp3beta"


def test_dlae_and_rp3beta_values_given_as_options_are_fitted_as_given(tmp_path, data, capsys):
    (tmp_path / "train").mkdir()
    write_jsonl(tmp_path / "train" / "interactions.jsonl", data)
    options = ["--train", str(tmp_path / "train"), "--model-dir", str(tmp_path / "model")]
    options += ["--no-evaluate"]
    # One value for a single kind: that model, no validation fits.
    fixed = [*options, "--model", "dlae", "--dlae-lambda", "40", "--dlae-dropout", "0.2"]
    assert train_cli.main(fixed) == 0
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert (metrics["params"]["regularization"], metrics["params"]["dropout"]) == (40.0, 0.2)
    assert metrics["selection"]["fits"] == 0
    # Comma lists: a grid, the other hyperparameter at its default; nothing else tried.
    grid = [*options, "--model", "dlae,rp3beta", "--folds", "2", "--dlae-dropout", "0.1,0.4"]
    grid += ["--rp3beta-alpha", "0.5,1", "--rp3beta-beta", "0.2,0.6"]
    assert train_cli.main(grid) == 0
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    labels = {c["label"] for c in metrics["selection"]["candidates"]}
    assert labels == {
        "dlae lambda=150 dropout=0.1",
        "dlae lambda=150 dropout=0.4",
        "rp3beta alpha=0.5 beta=0.2",
        "rp3beta alpha=0.5 beta=0.6",
        "rp3beta alpha=1 beta=0.2",
        "rp3beta alpha=1 beta=0.6",
    }
    assert metrics["selection"]["fits"] == 2 * 6


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--dlae-dropout", "0.5,1", "dropout"), ("--rp3beta-alpha", "0", "alpha")],
)
def test_a_dlae_or_rp3beta_value_out_of_range_is_refused_before_any_fit(
    tmp_path, option, value, message, capsys
):
    options = ["--train", str(tmp_path), "--model-dir", str(tmp_path / "model"), option, value]
    with pytest.raises(SystemExit) as excinfo:
        train_cli.main(options)
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err
