"""Training: reading data, determinism, the popularity prior, the time split and the CLI."""

import csv
import json

import numpy as np
import pytest

from model.data.interactions import DataError, Interactions, read_interactions, write_jsonl
from model.data.synthetic import DAY, START, taste_interactions
from model.evaluation.offline import evaluate, time_split
from model.training import run as train_cli
from model.training.als import TrainingParams, fit
from model.training.encoding import decayed_popularity, encode


@pytest.fixture(scope="module")
def data():
    return taste_interactions(num_users=120, num_items=50, num_categories=4, seed=5)


def write_csv(path, interactions):
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["user_id", "item_id", "weight", "timestamp"])
        for row in zip(
            interactions.user_ids.tolist(),
            interactions.item_ids.tolist(),
            interactions.weights.tolist(),
            interactions.timestamps.tolist(),
            strict=True,
        ):
            writer.writerow(row)


def test_csv_and_jsonl_read_the_same_interactions(tmp_path, data):
    write_jsonl(tmp_path / "a.jsonl", data)
    write_csv(tmp_path / "b.csv", data)
    from_jsonl = read_interactions(tmp_path / "a.jsonl")
    from_csv = read_interactions(tmp_path / "b.csv")
    for name in ("user_ids", "item_ids", "weights", "timestamps"):
        np.testing.assert_array_equal(getattr(from_jsonl, name), getattr(from_csv, name))
        np.testing.assert_array_equal(getattr(from_jsonl, name), getattr(data, name))
    assert len(read_interactions(tmp_path)) == 2 * len(data)  # a folder: every file in it


def test_missing_weight_and_timestamp_default_and_iso_dates_parse(tmp_path):
    (tmp_path / "d.jsonl").write_text(
        '{"user_id": "u1", "item_id": "7"}\n\n'
        '{"user_id": "u2", "item_id": 8, "weight": 3, "timestamp": "2024-05-01T00:00:00+00:00"}\n'
    )
    interactions = read_interactions(tmp_path)
    assert interactions.item_ids.tolist() == ["7", "8"]
    assert interactions.weights.tolist() == [1.0, 3.0]
    assert interactions.timestamps.tolist() == [0.0, 1714521600.0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.jsonl", '{"user_id": "u", "item_id": "1"}\nnot json\n', "x.jsonl:2: not JSON"),
        ("x.jsonl", '{"item_id": "1"}\n', "x.jsonl:1: bad row"),
        ("x.jsonl", '{"user_id": "u", "item_id": "1", "weight": "heavy"}\n', "x.jsonl:1: bad row"),
        ("x.csv", "user,item\nu,1\n", "header lacks item_id, user_id"),
        ("x.csv", "user_id,item_id\nu,\n", "x.csv:2: bad row"),
    ],
)
def test_bad_data_names_file_and_line(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message.replace(".", r"\.")):
        read_interactions(tmp_path)


def test_empty_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"no \.csv or \.jsonl files"):
        read_interactions(tmp_path)


def test_same_data_and_seed_give_the_same_model(data):
    first, second = fit(data), fit(data)
    assert first.model_version == second.model_version
    np.testing.assert_array_equal(first.user_factors, second.user_factors)
    np.testing.assert_array_equal(first.item_factors, second.item_factors)
    for user_id in ("user-1", "user-50", "stranger"):
        assert first.recommend(user_id, 10) == second.recommend(user_id, 10)


def test_model_version_ignores_row_order_but_not_data_or_parameters(data):
    version = fit(data).model_version
    shuffled = data.select(np.random.default_rng(0).permutation(len(data)))
    assert fit(shuffled).model_version == version
    assert fit(data, TrainingParams(seed=43)).model_version != version
    assert fit(data, TrainingParams(factors=16)).model_version != version
    assert fit(data.select(np.arange(len(data) - 1))).model_version != version


def test_another_seed_gives_other_factors(data):
    np.testing.assert_raises(
        AssertionError,
        np.testing.assert_array_equal,
        fit(data).item_factors,
        fit(data, TrainingParams(seed=1)).item_factors,
    )


def test_prior_prefers_recent_interactions_over_old_counts():
    # Item "old" has four times the weight, but 90 days (three half-lives) before "new".
    interactions = Interactions.from_rows(
        [("u1", "old", 4.0, START), ("u2", "new", 1.0, START + 90 * DAY)]
    )
    encoded = encode(interactions)
    prior = dict(
        zip(encoded.item_ids.tolist(), decayed_popularity(encoded, 30.0).tolist(), strict=True)
    )
    assert prior == {"new": 1.0, "old": pytest.approx(0.5)}
    assert fit(interactions, TrainingParams(factors=2)).recommend("x", 2).items[0][0] == "new"


def test_time_split_holds_out_each_users_last_order(data):
    train, test = time_split(data)
    assert len(train) + len(test) == len(data)
    for user_id in set(test.user_ids.tolist()):
        held_out = test.timestamps[test.user_ids == user_id]
        kept = train.timestamps[train.user_ids == user_id]
        assert len(set(held_out.tolist())) == 1
        assert len(kept) and kept.max() < held_out[0]
    one_order = Interactions.from_rows([("solo", "1", 1.0, START), ("solo", "2", 1.0, START)])
    train, test = time_split(one_order)
    assert len(train) == 2 and len(test) == 0


def test_model_beats_popularity_on_data_with_tastes():
    # Users with one or two favourite categories: personal taste should beat plain popularity.
    interactions = taste_interactions(num_users=300, num_items=120, num_categories=8, seed=21)
    results = evaluate(interactions, k=10)
    assert results.scores("model").users >= 200
    assert results.scores("model").recall > results.scores("popularity").recall * 1.2
    assert results.scores("model").ndcg > results.scores("popularity").ndcg


def test_train_cli_follows_sagemaker_conventions(tmp_path, monkeypatch, data, capsys):
    channel = tmp_path / "input" / "data" / "train"
    channel.mkdir(parents=True)
    write_jsonl(channel / "interactions.jsonl", data)
    model_dir = tmp_path / "model"
    output_dir = tmp_path / "output"
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(channel))
    monkeypatch.setenv("SM_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(output_dir))

    assert train_cli.main(["--model", "als", "--factors", "8", "--iterations", "5"]) == 0

    metadata = json.loads((model_dir / "model.json").read_text())
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metadata["model_version"] == metrics["model_version"]
    assert metadata["params"]["factors"] == 8
    assert metrics["interactions"] == len(data)
    assert metrics["model"] == "als"
    assert {"model", "popularity", "fallback: co-purchase blend"} <= set(metrics["evaluation"])
    assert metrics["selection"]["chosen"]["factors"] == 8
    assert (output_dir / "metrics.json").read_text() == (model_dir / "metrics.json").read_text()
    assert (model_dir / "model.npz").is_file()
    assert f"model_version={metadata['model_version']}" in capsys.readouterr().out
    regularization = metrics["selection"]["chosen"]["regularization"]
    params = TrainingParams(factors=8, iterations=5, regularization=regularization)
    expected = fit(data, params).model_version
    assert metadata["model_version"] == expected


def test_train_cli_reports_bad_data_without_a_traceback(tmp_path, capsys):
    assert train_cli.main(["--train", str(tmp_path), "--model-dir", str(tmp_path / "m")]) == 2
    assert "no .csv or .jsonl files" in capsys.readouterr().err


def test_metrics_json_records_the_folds_the_pick_and_the_validation_test_agreement(tmp_path, data):
    channel = tmp_path / "train"
    channel.mkdir()
    write_jsonl(channel / "interactions.jsonl", data)
    options = ["--train", str(channel), "--model-dir", str(tmp_path / "model")]
    options += ["--factors", "4,8", "--regularization", "1", "--iterations", "3"]
    options += ["--ease-lambda", "10,100", "--folds", "2", "--model", "als,ease"]
    assert train_cli.main(options) == 0
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["selection"]["folds"] == 2
    assert metrics["selection"]["fits"] == 2 * 4
    labels = [c["label"] for c in metrics["selection"]["candidates"]]
    assert metrics["selection"]["chosen_label"] in labels
    assert metrics["selection"]["best_label"] in labels
    assert set(metrics["agreement"]) == {"folds", "newest_order"}
    assert metrics["pick_on_test"]["best"] in labels


def test_the_search_minutes_are_an_option_a_hyperparameter_and_in_metrics_json(
    tmp_path, data, capsys
):
    from model.aws.hyperparameters import check_hyperparameters, option_for
    from model.training.run import option_names

    # SageMaker passes hyperparameters as strings; search_minutes names the option whole.
    check_hyperparameters({"search_minutes": "5"}, option_names())
    assert option_for("search_minutes") == "--search-minutes"
    channel = tmp_path / "train"
    channel.mkdir()
    write_jsonl(channel / "interactions.jsonl", data)
    options = ["--train", str(channel), "--model-dir", str(tmp_path / "model")]
    options += ["--iterations", "3", "--folds", "2", "--model", "als,ease", "--no-evaluate"]
    assert train_cli.main([*options, "--search-minutes", "0"]) == 0
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["selection"]["search_minutes"] == 0
    assert metrics["selection"]["fits"] == 2 * 2  # each kind's start point, no round
    assert "of a budget of 0 min" in capsys.readouterr().out
