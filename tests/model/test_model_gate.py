"""model/evaluation/gate.py: the candidate against the live model and the fallback, on local artefacts."""

import json
import tarfile

import numpy as np
import pytest

from model.aws.deploy.registry import (
    APPROVAL_DESCRIPTION_CHARS,
    METADATA_ENTRIES,
    METADATA_KEY_CHARS,
    METADATA_VALUE_CHARS,
    approval_description,
    metric_properties,
)
from model.aws.promote import REJECTED_EXIT
from model.aws.promote import main as promote
from model.data.synthetic import taste_interactions
from model.evaluation.fallback_baseline import CO_PURCHASE_BLEND, DECAYED_POPULARITY
from model.evaluation.gate import (
    DAY,
    GateError,
    compare,
    format_table,
    load_model,
    paired_interval,
    per_customer_ndcg,
)
from model.training.run import train

pytestmark = pytest.mark.cloud

PERIOD_DAYS = 14


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """An export of half a year, a candidate and a stale live model trained before its last
    two weeks, and a candidate trained on one week only."""
    from model.data.interactions import write_jsonl

    root = tmp_path_factory.mktemp("gate")
    interactions = taste_interactions(num_users=800, num_items=150, span_days=180, seed=3)
    export = root / "export"
    export.mkdir()
    write_jsonl(export / "orders.jsonl", interactions)
    end = float(interactions.timestamps.max())
    week = root / "week"
    week.mkdir()
    in_week = (interactions.timestamps >= end - 21 * DAY) & (
        interactions.timestamps < end - PERIOD_DAYS * DAY
    )
    write_jsonl(week / "orders.jsonl", interactions.select(in_week))
    train(export, root / "candidate", hold_out_days=PERIOD_DAYS)
    train(export, root / "live", hold_out_days=90)
    train(week, root / "week-candidate")
    train(export, root / "peeked")  # trained on the held-out period too
    with tarfile.open(root / "candidate.tar.gz", "w:gz") as archive:
        for path in (root / "candidate").iterdir():
            archive.add(path, arcname=path.name)
    return root, interactions


def test_promote_approves_a_candidate_that_beats_the_live_model_and_the_fallback(shop, capsys):
    root, _ = shop
    argv = ["--data", str(root / "export"), "--candidate", str(root / "candidate.tar.gz")]
    status = promote([*argv, "--live", str(root / "live"), "--period-days", str(PERIOD_DAYS)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "gate: candidate approved" in out
    assert "fallback: co-purchase blend" in out and "live" in out


def test_promote_rejects_a_candidate_trained_on_one_week(shop, capsys):
    root, _ = shop
    status = promote(
        [
            "--data", str(root / "export"), "--candidate", str(root / "week-candidate"),
            "--live", str(root / "live"), "--period-days", str(PERIOD_DAYS),
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == REJECTED_EXIT
    assert "gate: candidate rejected, nothing deployed" in out
    assert "lead over live -" in out


def test_a_margin_larger_than_the_lead_rejects(shop):
    root, interactions = shop
    candidate, live = load_model(root / "candidate.tar.gz"), load_model(root / "live")
    verdict = compare(candidate, live, interactions, period_days=PERIOD_DAYS, margin=0.5)
    assert not verdict.approved
    assert "not above 0.5" in verdict.reason


def test_a_model_trained_on_the_held_out_period_is_refused(shop):
    root, interactions = shop
    with pytest.raises(GateError, match=r"trained on .* held-out period"):
        compare(load_model(root / "peeked"), None, interactions, period_days=PERIOD_DAYS)


def test_without_a_live_model_the_candidate_meets_the_fallback_only(shop):
    root, interactions = shop
    verdict = compare(load_model(root / "candidate"), None, interactions, period_days=PERIOD_DAYS)
    assert "live" not in verdict.scores
    assert {c.opponent for c in verdict.comparisons} >= {"fallback: co-purchase blend"}


def test_the_paired_interval_is_centred_on_the_mean_difference():
    rng = np.random.default_rng(1)
    opponent = rng.random(500)
    candidate = opponent + 0.1 + rng.normal(0, 0.05, 500)
    low, high = paired_interval(candidate, opponent)
    assert low < 0.1 < high and high - low < 0.02
    assert paired_interval(opponent + 0.2, opponent) == pytest.approx((0.2, 0.2))


def test_per_customer_ndcg_is_one_for_a_perfect_ranking():
    values = per_customer_ndcg([["a", "b"], ["x", "a"]], [{"a", "b"}, {"a"}], k=2)
    assert values[0] == pytest.approx(1.0)
    assert values[1] == pytest.approx(1 / np.log2(3))


def test_the_approval_description_holds_the_reason_and_table_within_the_limit(shop):
    root, interactions = shop
    verdict = compare(
        load_model(root / "week-candidate"),
        load_model(root / "live"),
        interactions,
        period_days=PERIOD_DAYS,
    )
    text = approval_description(verdict.reason, format_table(verdict) * 20)
    assert len(text) <= APPROVAL_DESCRIPTION_CHARS
    assert text.startswith("rejected:") and "\n" not in text


def test_metric_properties_keep_the_registry_limits():
    rows = {
        f"als(factors={n}, regularization=0.3)": {
            "ndcg": 0.1, "precision": 0.1, "recall": 0.2, "coverage": 0.5, "users": 10,
        }
        for n in range(80)
    }  # fmt: skip
    rows[DECAYED_POPULARITY] = rows[CO_PURCHASE_BLEND] = rows["model"] = rows[
        "als(factors=0, regularization=0.3)"
    ]
    properties = metric_properties({"model_version": "v" * 400, "model": "als", "evaluation": rows})
    assert len(properties) <= METADATA_ENTRIES
    assert {"eval:model", f"eval:{DECAYED_POPULARITY}", f"eval:{CO_PURCHASE_BLEND}"} <= set(
        properties
    )
    for key, value in properties.items():
        assert 1 <= len(key) <= METADATA_KEY_CHARS and 1 <= len(value) <= METADATA_VALUE_CHARS
        assert not set(key + value) - set(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.:/=+-@"
        )


def test_training_with_hold_out_days_leaves_the_newest_days_out(shop):
    root, interactions = shop
    metrics = json.loads((root / "candidate" / "metrics.json").read_text())
    newest = float(interactions.timestamps.max())
    assert metrics["trained_until"] < newest - PERIOD_DAYS * DAY
    assert metrics["trained_until"] >= newest - (PERIOD_DAYS + 1) * DAY
