"""model.evaluate: every candidate and the app's fallback in one table; selection sees no test data;
the pick is the cheapest candidate within noise of the best on validation folds."""

import json

import numpy as np
import pytest

from model.data.interactions import Interactions, write_jsonl
from model.data.synthetic import taste_interactions
from model.evaluation import offline as evaluate_cli
from model.evaluation.fallback_baseline import CO_PURCHASE_BLEND, DECAYED_POPULARITY
from model.evaluation.metrics import held_out, ranking_scores, score_model, time_split
from model.evaluation.offline import evaluate, format_table
from model.training.als import TrainingParams
from model.training.candidates import Candidate, SearchGrid
from model.training.ease import EaseParams
from model.training.selection import choose, select
from model.training.validation import UserScores, rank_agreement, validation_folds

SMALL_GRID = SearchGrid(
    models=("als", "ease"),
    als=TrainingParams(iterations=5),
    als_factors=(4, 8),
    als_regularization=(1.0,),
    ease_regularization=(5.0, 50.0),
)
CANDIDATES = [
    "als factors=4 reg=1 alpha=4",
    "als factors=8 reg=1 alpha=4",
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


def test_the_pick_is_the_cheapest_candidate_within_noise_of_the_best_on_validation(result):
    selection = result.selection
    best = max(selection.validation, key=lambda pair: (pair[1].ndcg, pair[1].recall))[0]
    assert selection.best == best
    assert selection.behind[best].lead == 0.0
    within_noise = [c for c, _ in selection.validation if selection.behind[c].within_noise]
    assert selection.chosen in within_noise
    costs = {c: c.serving_cost(150, 40) for c in within_noise}
    assert costs[selection.chosen] == min(costs.values())
    described = selection.describe()
    assert described["metric"] == "ndcg@10"
    assert described["folds"] == 3 and described["fits"] == 3 * len(CANDIDATES)
    # Validation (older orders) and test (newest) are different figures.
    chosen_row = next(row for row in result.rows if row.chosen)
    assert chosen_row.validation != chosen_row.test


def user_scores(ndcg: list[float]) -> UserScores:
    values = np.array(ndcg)
    users = [f"u{n}" for n in range(len(values))]
    return UserScores(users, values / 10, values, values, 0.5, float(values.mean()))


def test_a_cheaper_candidate_within_the_interval_is_preferred_and_a_clear_winner_is_not_passed_over():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 400)
    als = Candidate(TrainingParams(factors=8))
    ease = Candidate(EaseParams(regularization=100.0))
    # EASE ahead by noise: the per-user differences average 0.002 with a spread of 0.2.
    noisy = [(als, user_scores(base)), (ease, user_scores(base + rng.normal(0.002, 0.2, 400)))]
    chosen, best, behind = choose(noisy, num_users=400, num_items=300)
    assert best == ease and chosen == als and behind[als].within_noise
    # EASE ahead on every user: its lead's interval lies above zero, so it is served.
    clear = [(als, user_scores(base)), (ease, user_scores(base + 0.05))]
    chosen, best, behind = choose(clear, num_users=400, num_items=300)
    assert chosen == best == ease and not behind[als].within_noise


def test_rank_agreement_is_one_for_the_same_order_and_minus_one_for_the_reverse():
    assert rank_agreement([0.1, 0.2, 0.3], [0.5, 0.6, 0.7]) == {"kendall_tau": 1.0, "pairwise": 1.0}
    assert rank_agreement([0.1, 0.2, 0.3], [0.7, 0.6, 0.5]) == {
        "kendall_tau": -1.0,
        "pairwise": 0.0,
    }
    assert rank_agreement([0.1, 0.2, 0.3], [0.5, 0.7, 0.6])["pairwise"] == pytest.approx(
        2 / 3, abs=1e-4
    )
    assert rank_agreement([0.1], [0.5]) is None


def test_evaluate_reports_the_picks_lag_on_test_and_the_validation_test_agreement(result):
    document = result.as_json()
    pick = document["pick_on_test"]
    test_ndcg = {row.name: row.test.ndcg for row in result.rows if row.validation}
    assert pick["best"] == max(test_ndcg, key=test_ndcg.get)
    assert pick["lead"] == pytest.approx(test_ndcg[pick["best"]] - result.scores("model").ndcg)
    assert pick["low"] <= pick["lead"] <= pick["high"]
    assert set(document["agreement"]) == {"folds", "newest_order"}
    for agreement in document["agreement"].values():
        assert -1.0 <= agreement["kendall_tau"] <= 1.0 and 0.0 <= agreement["pairwise"] <= 1.0
    table = format_table(result)
    assert "validation-test agreement, the folds: Kendall tau" in table
    assert f"on test, the pick is behind the best ({pick['best']})" in table


def planted(part: Interactions, prefix: str) -> Interactions:
    """Copies of `part`'s rows (same users and times) with items that exist nowhere else."""
    items = np.array([f"{prefix}-{n % 7}" for n in range(len(part))])
    return Interactions(part.user_ids, items, part.weights, part.timestamps)


def concatenated(*parts: Interactions) -> Interactions:
    return Interactions(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Interactions.__annotations__)
    )


def test_selection_never_fits_on_test_orders_nor_a_fold_on_its_own_orders(data, monkeypatch):
    # Items planted only in each user's newest order (test) and only in their second-newest
    # (fold 1's validation): a fit that saw those orders would have the planted items in its
    # catalogue.
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

    selection_fits, table_fits = catalogues[: -len(CANDIDATES)], catalogues[-len(CANDIDATES) :]
    assert len(selection_fits) == 3 * len(CANDIDATES)  # one fit per candidate and fold
    assert not any("test-only" in c for c in selection_fits)
    # Each candidate fits fold 1, 2, 3 in turn: fold 1 never sees its own orders, the others
    # fit on everything but theirs (fold 1's orders included).
    assert not any("validation-only" in c for c in selection_fits[0::3])
    assert all("validation-only" in c for n, c in enumerate(selection_fits) if n % 3)
    # The table's refits train on the whole older part: validation orders yes, test orders no.
    assert all("validation-only" in c and "test-only" not in c for c in table_fits)


def test_select_scores_each_user_on_their_newest_orders_one_fold_each(data):
    train, _ = time_split(data)
    selection = select(train, SMALL_GRID)
    folds = validation_folds(train, 3)
    assert len(folds) == 3
    # Fold 1 holds out each user's newest order and fits on the older ones: one time split.
    fit_part, newest_orders = time_split(train)
    assert len(folds[0].fit_part) == len(fit_part)
    # Fold 2 holds out the order before it, and fits on everything else, newest orders included.
    times: dict[str, set[float]] = {}
    for user, timestamp in zip(train.user_ids.tolist(), train.timestamps.tolist(), strict=True):
        times.setdefault(user, set()).add(timestamp)
    second = {user: sorted(t)[-2] for user, t in times.items() if len(t) >= 2}
    is_second = np.array(
        [second.get(u) == t for u, t in zip(train.user_ids, train.timestamps, strict=True)]
    )
    assert len(folds[1].fit_part) == len(train) - is_second.sum()
    assert folds[1].held_out == held_out(folds[1].fit_part, train.select(is_second))
    users = set().union(*(fold.held_out.user_ids for fold in folds))
    assert {s.users for _, s in selection.validation} == {len(users)}
    # Fold 1 alone is the one cut the choice used to make: each user's newest order.
    newest = held_out(fit_part, newest_orders)
    candidate = selection.validation[0][0]
    alone = score_model(candidate.fit(fit_part), newest, 10).ndcg
    assert selection.newest_fold_ndcg[candidate] == pytest.approx(alone, abs=1e-6)


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
    for name in (
        "als factors=4 reg=1 alpha=4",
        "ease lambda=5",
        "ease lambda=50",
        CO_PURCHASE_BLEND,
    ):
        assert name in out
    assert evaluate_cli.main([*options, "--model", "als", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["chosen"] == "als factors=4 reg=1 alpha=4"
    assert set(document["rows"]) == {
        "als factors=4 reg=1 alpha=4",
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


def test_each_kinds_best_on_validation_is_held_against_eases_on_test(result):
    kinds = {k.kind: k for k in result.kinds}
    assert set(kinds) == {"als", "ease"}
    assert kinds["ease"].lead == 0.0
    best_on_validation = {}
    for candidate, scores in result.selection.validation:
        held = best_on_validation.get(candidate.kind)
        if held is None or (scores.ndcg, scores.recall) > (held[1].ndcg, held[1].recall):
            best_on_validation[candidate.kind] = (candidate, scores)
    test_ndcg = {row.name: row.test.ndcg for row in result.rows}
    als, ease = best_on_validation["als"][0].label, best_on_validation["ease"][0].label
    assert kinds["als"].label == als
    assert kinds["als"].lead == pytest.approx(test_ndcg[als] - test_ndcg[ease], abs=1e-6)
    assert kinds["als"].low <= kinds["als"].lead <= kinds["als"].high
    assert "als's best on validation" in format_table(result)
    assert result.as_json()["kinds"]["als"]["label"] == als


def test_model_option_takes_auto_one_kind_or_a_list_and_names_the_kinds_on_a_typo(
    tmp_path, data, capsys
):
    write_jsonl(tmp_path / "data.jsonl", data)
    options = ["--data", str(tmp_path / "data.jsonl"), "--json", "--fit-budget", "6"]
    assert evaluate_cli.main([*options, "--model", "ease,rp3beta", "--folds", "1"]) == 0
    document = json.loads(capsys.readouterr().out)
    kinds = {c["model"] for c in document["selection"]["candidates"]}
    assert kinds == {"ease", "rp3beta"}
    assert document["selection"]["fits"] <= 6
    with pytest.raises(SystemExit) as excinfo:
        evaluate_cli.main([*options, "--model", "ease,edlae"])
    assert excinfo.value.code == 2
    assert "expected auto or kinds among als, ease, dlae, rp3beta" in capsys.readouterr().err
