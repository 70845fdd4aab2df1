"""model.evaluate: every candidate and the app's fallback in one table; selection sees no test data."""

import json

import numpy as np
import pytest

from model.data.interactions import Interactions, write_jsonl
from model.data.synthetic import taste_interactions
from model.evaluation import offline as evaluate_cli
from model.evaluation.fallback_baseline import CO_PURCHASE_BLEND, DECAYED_POPULARITY
from model.evaluation.metrics import held_out, ranking_scores, time_split
from model.evaluation.offline import evaluate, format_table
from model.training.als import TrainingParams
from model.training.ease import EaseParams
from model.training.selection import Candidate, SearchGrid, select

SMALL_GRID = SearchGrid(
    als=TrainingParams(iterations=5),
    als_factors=(4, 8),
    als_regularization=(1.0,),
    ease_regularization=(5.0, 50.0),
)
CANDIDATES = [
    "als factors=4 reg=1",
    "als factors=8 reg=1",
    "ease lambda=5",
    "ease lambda=50",
]


@pytest.fixture(scope="module")
def data():
    return taste_interactions(num_users=150, num_items=40, num_categories=4, seed=3)


@pytest.fixture(scope="module")
def result(data):
    return evaluate(data, SMALL_GRID)


def test_table_has_every_candidate_popularity_and_both_fallback_rows(result):
    names = [row.name for row in result.rows]
    assert names == [*CANDIDATES, "popularity", DECAYED_POPULARITY, CO_PURCHASE_BLEND]
    assert sum(row.chosen for row in result.rows) == 1
    users = {row.test.users for row in result.rows}
    assert len(users) == 1 and users.pop() > 100  # every row scored on the same users
    table = format_table(result)
    for name in names:
        assert name in table
    for column in ("val ndcg@10", "precision@10", "recall@10", "ndcg@10", "coverage"):
        assert column in table
    assert f"* {result.selection.chosen.label}" in table


def test_coverage_is_the_share_of_the_catalogue_shown():
    scores = ranking_scores([["a", "b"], ["a", "c"]], [{"a"}, {"x"}], k=2, catalogue_size=6)
    assert scores.coverage == pytest.approx(3 / 6)
    assert scores.recall == pytest.approx(0.5)
    assert scores.precision == pytest.approx(0.25)


def test_the_chosen_candidate_is_the_best_on_validation_not_on_test(result):
    validated = [(c, s) for c, s in result.selection.validation]
    best = max(validated, key=lambda pair: (pair[1].ndcg, pair[1].recall))[0]
    assert result.selection.chosen == best
    assert result.selection.describe()["metric"] == "ndcg@10"
    # Validation (second-newest orders) and test (newest) are different figures.
    chosen_row = next(row for row in result.rows if row.chosen)
    assert chosen_row.validation != chosen_row.test


def planted(part: Interactions, prefix: str) -> Interactions:
    """Copies of `part`'s rows (same users and times) with items that exist nowhere else."""
    items = np.array([f"{prefix}-{n % 7}" for n in range(len(part))])
    return Interactions(part.user_ids, items, part.weights, part.timestamps)


def concatenated(*parts: Interactions) -> Interactions:
    return Interactions(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Interactions.__annotations__)
    )


def test_selection_never_fits_on_validation_or_test_orders(data, monkeypatch):
    # Items planted only in each user's newest order (test) and only in their second-newest
    # (validation): a fit that saw those orders would have the planted items in its catalogue.
    train, test = time_split(data)
    _, validation = time_split(train)
    data = concatenated(data, planted(test, "test-only"), planted(validation, "validation-only"))
    catalogues = []
    real_fit = Candidate.fit

    def recording_fit(self, interactions):
        # A spy around the real fit: records the catalogue each candidate was trained on.
        model = real_fit(self, interactions)
        catalogues.append(" ".join(model.item_ids.tolist()))
        return model

    monkeypatch.setattr(Candidate, "fit", recording_fit)
    evaluate(data, SMALL_GRID)

    selection_fits, table_fits = catalogues[: len(CANDIDATES)], catalogues[len(CANDIDATES) :]
    assert len(table_fits) == len(CANDIDATES)
    assert not any("test-only" in c or "validation-only" in c for c in selection_fits)
    # The table's refits train on the whole older part: validation orders yes, test orders no.
    assert all("validation-only" in c and "test-only" not in c for c in table_fits)


def test_select_scores_on_the_newest_order_of_what_it_is_given(data):
    train, _ = time_split(data)
    selection = select(train, SMALL_GRID)
    fit_part, validation_part = time_split(train)
    validation = held_out(fit_part, validation_part)
    assert {s.users for _, s in selection.validation} == {len(validation.user_ids)}


def test_one_fixed_setting_skips_the_validation_fits(data):
    selection = select(data, SearchGrid(("ease",), ease=EaseParams(), ease_regularization=(9.0,)))
    assert selection.chosen.label == "ease lambda=9"
    assert selection.validation == [(selection.chosen, None)]


def test_evaluate_cli_prints_the_table_and_json(tmp_path, data, capsys):
    write_jsonl(tmp_path / "data.jsonl", data)
    options = ["--data", str(tmp_path / "data.jsonl"), "--factors", "4", "--iterations", "3"]
    options += ["--regularization", "1", "--ease-lambda", "5,50"]
    assert evaluate_cli.main(options) == 0
    out = capsys.readouterr().out
    for name in ("als factors=4 reg=1", "ease lambda=5", "ease lambda=50", CO_PURCHASE_BLEND):
        assert name in out
    assert evaluate_cli.main([*options, "--model", "als", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["chosen"] == "als factors=4 reg=1"
    assert set(document["rows"]) == {
        "als factors=4 reg=1",
        "popularity",
        DECAYED_POPULARITY,
        CO_PURCHASE_BLEND,
    }


def test_evaluate_cli_rejects_bad_hyperparameters_with_a_message(tmp_path, data, capsys):
    write_jsonl(tmp_path / "data.jsonl", data)
    with pytest.raises(SystemExit) as excinfo:
        evaluate_cli.main(["--data", str(tmp_path / "data.jsonl"), "--ease-lambda", "0"])
    assert excinfo.value.code == 2
    assert "regularization" in capsys.readouterr().err
