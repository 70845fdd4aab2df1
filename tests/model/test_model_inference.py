"""The SageMaker handler functions and the fitted model's ranking, without a server."""

import json

import numpy as np
import pytest

from model.data.synthetic import taste_interactions
from model.inference import handlers as inference
from model.inference.protocol import MalformedRequest, UnsupportedAccept, UnsupportedContentType
from model.inference.recommender import Recommender
from model.training.als import fit

JSON = "application/json"


@pytest.fixture(scope="module")
def data():
    return taste_interactions(num_users=60, num_items=30, num_categories=3, seed=11)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, data):
    directory = tmp_path_factory.mktemp("model")
    fit(data).save(directory)
    return directory


@pytest.fixture(scope="module")
def model(model_dir):
    return inference.model_fn(model_dir)


def answer(model, document, content_type=JSON, accept=JSON):
    body = json.dumps(document).encode() if not isinstance(document, bytes) else document
    data = inference.input_fn(body, content_type)
    return json.loads(inference.output_fn(inference.predict_fn(data, model), accept))


def test_model_fn_loads_what_training_saved(model_dir, data):
    fitted = fit(data)
    loaded = inference.model_fn(model_dir)
    assert loaded.model_version == fitted.model_version
    np.testing.assert_array_equal(loaded.item_factors, fitted.item_factors)
    assert loaded.recommend("user-1", 5) == fitted.recommend("user-1", 5)


def test_known_user_gets_unseen_items_ranked_by_score(model, data):
    user_id = "user-4"
    body = answer(model, {"user_id": user_id, "num_results": 7})
    assert body["prior"] is False
    assert body["model_version"] == model.model_version
    items = [r["item_id"] for r in body["recommendations"]]
    assert len(items) == 7 == len(set(items))
    bought = set(data.item_ids[data.user_ids == user_id].tolist())
    assert bought.isdisjoint(items)
    scores = [r["score"] for r in body["recommendations"]]
    assert scores == sorted(scores, reverse=True)


def test_unknown_user_gets_the_decayed_popularity_prior(model):
    body = answer(model, {"user_id": "new-customer", "num_results": 5})
    assert body["prior"] is True
    scores = [r["score"] for r in body["recommendations"]]
    assert scores[0] == 1.0  # the prior is scaled so the most popular item scores 1
    assert scores == sorted(scores, reverse=True)
    expected = model.item_ids[np.argsort(-model.prior_scores, kind="stable")[:5]].tolist()
    assert [r["item_id"] for r in body["recommendations"]] == expected


def test_exclude_removes_items_for_known_and_unknown_users(model):
    for user_id in ("user-2", "new-customer"):
        first = answer(model, {"user_id": user_id, "num_results": 3})["recommendations"]
        top = [r["item_id"] for r in first]
        again = answer(model, {"user_id": user_id, "num_results": 3, "exclude": top[:2]})
        items = [r["item_id"] for r in again["recommendations"]]
        assert len(items) == 3
        assert items[0] == top[2]
        assert set(top[:2]).isdisjoint(items)


def test_num_results_larger_than_the_catalogue_returns_what_there_is(model):
    body = answer(model, {"user_id": "user-3", "num_results": 100})
    seen = len(model.seen_items(int(np.searchsorted(model.user_ids, "user-3"))))
    assert len(body["recommendations"]) == model.num_items - seen
    assert len(answer(model, {"user_id": "x", "num_results": 100})["recommendations"]) == (
        model.num_items
    )


def test_batch_keeps_request_order_and_matches_single_answers(model):
    instances = [
        {"user_id": "user-9", "num_results": 2},
        {"user_id": "unknown", "num_results": 1},
        {"user_id": "user-10", "exclude": ["1"], "context": {"page": "home"}},
    ]
    body = answer(model, {"instances": instances})
    assert list(body) == ["predictions"]
    assert [p["prior"] for p in body["predictions"]] == [False, True, False]
    for instance, prediction in zip(instances, body["predictions"], strict=True):
        assert prediction == answer(model, instance)


def test_default_num_results_is_ten(model):
    assert len(answer(model, {"user_id": "user-1"})["recommendations"]) == 10


def test_content_type_with_charset_is_json(model):
    assert answer(model, {"user_id": "u"}, content_type="application/json; charset=utf-8")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (b"{}", "user_id must be a non-empty string"),
        (b'{"user_id": ""}', "user_id must be a non-empty string"),
        (b'{"user_id": 12}', "user_id must be a non-empty string"),
        (b'{"user_id": "u", "num_results": 0}', "num_results must be an integer from 1 to 100"),
        (b'{"user_id": "u", "num_results": 101}', "num_results must be an integer"),
        (b'{"user_id": "u", "num_results": "5"}', "num_results must be an integer"),
        (b'{"user_id": "u", "num_results": true}', "num_results must be an integer"),
        (b'{"user_id": "u", "exclude": "12"}', "exclude must be an array"),
        (b'{"user_id": "u", "exclude": [12]}', "exclude must be an array"),
        (b'{"user_id": "u", "context": []}', "context must be a JSON object"),
        (b'{"instances": []}', "instances must be a non-empty array"),
        (b'{"instances": {"user_id": "u"}}', "instances must be a non-empty array"),
        (b'{"instances": [{"user_id": "u"}, 3]}', "instances[1]"),
        (b'{"instances": [{"user_id": "u"}, {"user_id": null}]}', "instances[1].user_id"),
    ],
)
def test_malformed_requests_raise_a_typed_400(model, body, message):
    with pytest.raises(MalformedRequest) as excinfo:
        inference.input_fn(body, JSON)
    assert excinfo.value.status == 400
    assert message in excinfo.value.message
    assert excinfo.value.to_json() == {"error": "BadRequest", "message": excinfo.value.message}


def test_too_many_instances_are_refused():
    body = json.dumps({"instances": [{"user_id": "u"}] * 1001}).encode()
    with pytest.raises(MalformedRequest, match="at most 1000"):
        inference.input_fn(body, JSON)


@pytest.mark.parametrize("content_type", [None, "", "text/csv", "application/x-npy"])
def test_non_json_content_type_is_415(content_type):
    with pytest.raises(UnsupportedContentType) as excinfo:
        inference.input_fn(b'{"user_id": "u"}', content_type)
    assert excinfo.value.status == 415


def test_accept_must_allow_json(model):
    data = inference.input_fn(b'{"user_id": "u"}', JSON)
    prediction = inference.predict_fn(data, model)
    for accept in (None, "*/*", "application/json", "text/html, application/*;q=0.8"):
        assert json.loads(inference.output_fn(prediction, accept))["recommendations"]
    with pytest.raises(UnsupportedAccept) as excinfo:
        inference.output_fn(prediction, "text/csv")
    assert excinfo.value.status == 406


def test_ties_in_the_prior_rank_by_item_id():
    # A hand-built model whose prior scores tie: the order must not depend on sort internals.
    model = Recommender(
        user_ids=np.array(["a"]),
        item_ids=np.array(["1", "2", "3", "4"]),
        user_factors=np.ones((1, 2), dtype=np.float32),
        item_factors=np.ones((4, 2), dtype=np.float32),
        seen_indptr=np.array([0, 1]),
        seen_indices=np.array([2], dtype=np.int32),
        prior_scores=np.array([0.5, 1.0, 0.5, 0.5], dtype=np.float32),
        model_version="test",
    )
    assert [i for i, _ in model.recommend("someone", 4).items] == ["2", "1", "3", "4"]
    # Known user "a": equal factor scores everywhere, item 3 already seen.
    assert [i for i, _ in model.recommend("a", 4).items] == ["1", "2", "4"]
