"""Codecs: request bodies on the wire, and answers validated item by item."""

import datetime
import json

import pytest
from django.test import override_settings

from recommendations.backends.codecs import (
    MAX_ITEMS_PER_ANSWER,
    Codec,
    JSONCodec,
    SageMakerJSONCodec,
    get_codec,
)
from recommendations.backends.predictions import Prediction, PredictionRequest
from recommendations.exceptions import BadResponse, EndpointMisconfigured


def wire(payload: object) -> bytes:
    return json.dumps(payload).encode()


def answer(*items: object, **fields: object) -> dict:
    return {"recommendations": list(items), **fields}


def item(item_id: object, score: object = 0.5) -> dict:
    return {"item_id": item_id, "score": score}


class LineCodec(Codec):
    """A custom codec as a shop would write one: one user per line out, `id:score,...` lines back."""

    content_type = "text/plain"
    accept = "text/plain"

    def encode(self, requests):
        return "\n".join(f"{r.user_key} {r.num_results}" for r in requests).encode()

    def decode(self, body, expected):
        lines = body.decode().splitlines()
        if len(lines) != expected:
            raise BadResponse(detail="wrong number of lines")
        predictions = []
        for line in lines:
            pairs = [pair.split(":") for pair in line.split(",") if pair]
            predictions.append(
                Prediction(
                    item_ids=tuple(item_id for item_id, _ in pairs),
                    scores=tuple(float(score) for _, score in pairs),
                    model_version="lines",
                )
            )
        return predictions


LINE_CODEC_INSTANCE = LineCodec()
NOT_A_CODEC = object()


# --- requests -------------------------------------------------------------------------------


def test_one_request_is_encoded_as_a_single_object():
    request = PredictionRequest(
        user_key="u1", num_results=4, exclude=("7", "9"), context={"page": "home"}
    )
    assert json.loads(JSONCodec().encode([request])) == {
        "user_id": "u1",
        "num_results": 4,
        "exclude": ["7", "9"],
        "context": {"page": "home"},
    }


def test_several_requests_are_encoded_as_instances_in_order():
    requests = [PredictionRequest(user_key=f"u{n}", num_results=n) for n in (1, 2, 3)]
    payload = json.loads(JSONCodec().encode(requests))
    assert [instance["user_id"] for instance in payload["instances"]] == ["u1", "u2", "u3"]
    assert [instance["num_results"] for instance in payload["instances"]] == [1, 2, 3]


def test_sagemaker_convention_wraps_even_one_request_in_instances():
    request = PredictionRequest(user_key="u1", num_results=2)
    payload = json.loads(SageMakerJSONCodec().encode([request]))
    assert payload == {
        "instances": [{"user_id": "u1", "num_results": 2, "exclude": [], "context": {}}]
    }


def test_context_with_dates_still_encodes():
    request = PredictionRequest(
        user_key="u1", num_results=2, context={"day": datetime.date(2024, 5, 1)}
    )
    assert json.loads(JSONCodec().encode([request]))["context"] == {"day": "2024-05-01"}


def test_exclude_ids_are_strings_on_the_wire():
    request = PredictionRequest(user_key="u1", num_results=2, exclude=[3, "4"])
    assert request.exclude == ("3", "4")
    assert json.loads(JSONCodec().encode([request]))["exclude"] == ["3", "4"]


@pytest.mark.parametrize(
    "fields",
    [
        {"user_key": "", "num_results": 3},
        {"user_key": 17, "num_results": 3},
        {"user_key": "u1", "num_results": 0},
        {"user_key": "u1", "num_results": True},
        {"user_key": "u1", "num_results": "3"},
    ],
)
def test_a_malformed_request_is_refused_before_it_is_sent(fields):
    with pytest.raises(ValueError):
        PredictionRequest(**fields)


def test_encoding_nothing_is_an_error():
    with pytest.raises(ValueError):
        JSONCodec().encode([])


# --- answers: shapes ------------------------------------------------------------------------


def test_single_answer_is_decoded():
    body = wire(answer(item("12", 0.9), item("7", 0.4), model_version="v3", prior=False))
    (prediction,) = JSONCodec().decode(body, expected=1)
    assert prediction == Prediction(
        item_ids=("12", "7"), scores=(0.9, 0.4), model_version="v3", prior=False
    )


def test_batch_answer_is_decoded_in_order():
    body = wire(
        {
            "predictions": [
                answer(item("1"), model_version="v1"),
                answer(item("2"), model_version="v1", prior=True),
                answer(model_version="v1"),
            ]
        }
    )
    predictions = JSONCodec().decode(body, expected=3)
    assert [p.item_ids for p in predictions] == [("1",), ("2",), ()]
    assert [p.prior for p in predictions] == [False, True, False]


def test_one_request_also_accepts_the_batch_form():
    body = wire({"predictions": [answer(item("5"))]})
    assert JSONCodec().decode(body, expected=1)[0].item_ids == ("5",)


def test_sagemaker_convention_decodes_predictions():
    body = wire({"predictions": [answer(item("5")), answer(item(6))]})
    predictions = SageMakerJSONCodec().decode(body, expected=2)
    assert [p.item_ids for p in predictions] == [("5",), ("6",)]


def test_sagemaker_convention_refuses_the_single_form():
    with pytest.raises(BadResponse):
        SageMakerJSONCodec().decode(wire(answer(item("5"))), expected=1)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"",
        b"\xff\xfe not utf-8",
        wire([answer(item("1"))]),
        wire({"items": []}),
        wire({"predictions": {"0": answer(item("1"))}}),
        wire("recommendations"),
        b"[" * 100_000,
    ],
    ids=[
        "html",
        "empty",
        "not-utf8",
        "top-level-list",
        "no-predictions",
        "predictions-not-a-list",
        "a-string",
        "deeply-nested",
    ],
)
def test_a_body_of_the_wrong_shape_is_a_bad_response(body):
    with pytest.raises(BadResponse) as caught:
        JSONCodec().decode(body, expected=1)
    assert caught.value.reason == "bad_response"


def test_a_wrong_number_of_predictions_is_a_bad_response():
    body = wire({"predictions": [answer(item("1")), answer(item("2"))]})
    with pytest.raises(BadResponse, match="expected 3 predictions, got 2"):
        JSONCodec().decode(body, expected=3)


def test_one_malformed_answer_in_a_batch_leaves_that_user_empty():
    body = wire({"predictions": [answer(item("1")), "oops", {"recommendations": "x"}]})
    predictions = JSONCodec().decode(body, expected=3)
    assert predictions[0].item_ids == ("1",)
    assert predictions[1] == Prediction(item_ids=(), scores=(), model_version=None, dropped=1)
    assert predictions[2].item_ids == ()


def test_a_batch_of_only_malformed_answers_is_a_bad_response():
    body = wire({"predictions": [None, 3]})
    with pytest.raises(BadResponse):
        JSONCodec().decode(body, expected=2)


# --- answers: item by item ------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_item",
    [
        {"item_id": 1.5, "score": 0.3},
        {"item_id": None, "score": 0.3},
        {"item_id": ["1"], "score": 0.3},
        {"item_id": True, "score": 0.3},
        {"item_id": "", "score": 0.3},
        {"item_id": "x" * 256, "score": 0.3},
        {"score": 0.3},
        {"item_id": "9"},
        {"item_id": "9", "score": "0.3"},
        {"item_id": "9", "score": None},
        {"item_id": "9", "score": False},
        {"item_id": "9", "score": [0.3]},
        "9",
        9,
        None,
    ],
)
def test_an_untrustworthy_item_is_dropped_and_the_rest_kept(bad_item):
    body = wire(answer(item("1", 0.9), bad_item, item("2", 0.1)))
    (prediction,) = JSONCodec().decode(body, expected=1)
    assert prediction.item_ids == ("1", "2")
    assert prediction.scores == (0.9, 0.1)
    assert prediction.dropped == 1


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400])
def test_non_finite_scores_are_dropped(literal):
    body = (
        '{"recommendations": [{"item_id": "1", "score": 0.9}, '
        f'{{"item_id": "2", "score": {literal}}}, {{"item_id": "3", "score": 0.2}}]}}'
    ).encode()
    (prediction,) = JSONCodec().decode(body, expected=1)
    assert prediction.item_ids == ("1", "3")
    assert prediction.dropped == 1


def test_integer_ids_are_normalised_to_strings_and_duplicates_dropped():
    body = wire(answer(item(42, 0.9), item("7", 0.8), item("42", 0.7), item(7, 0.6), item(3, 1)))
    (prediction,) = JSONCodec().decode(body, expected=1)
    assert prediction.item_ids == ("42", "7", "3")
    # The first (highest-ranked) occurrence is kept with its own score.
    assert prediction.scores == (0.9, 0.8, 1.0)
    assert prediction.dropped == 2


def test_the_endpoints_ranking_is_kept_even_when_scores_disagree():
    body = wire(answer(item("a", 0.1), item("b", 0.9)))
    assert JSONCodec().decode(body, expected=1)[0].item_ids == ("a", "b")


def test_an_absurdly_long_answer_is_cut():
    items = [item(n, 1.0) for n in range(MAX_ITEMS_PER_ANSWER + 5)]
    (prediction,) = JSONCodec().decode(wire(answer(*items)), expected=1)
    assert len(prediction.item_ids) == MAX_ITEMS_PER_ANSWER
    assert prediction.dropped == 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2024-05-01-abc", "2024-05-01-abc"), (3, None), ("", None), (None, None), ("v" * 200, None)],
)
def test_model_version_is_a_short_string_or_none(value, expected):
    (prediction,) = JSONCodec().decode(wire(answer(model_version=value)), expected=1)
    assert prediction.model_version == expected


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("true", False), (1, False)])
def test_prior_flag_must_be_a_real_boolean(value, expected):
    (prediction,) = JSONCodec().decode(wire(answer(prior=value)), expected=1)
    assert prediction.prior is expected


# --- choosing a codec -----------------------------------------------------------------------


def test_builtin_codecs_by_name():
    assert type(get_codec("json")) is JSONCodec
    assert type(get_codec("sagemaker_json")) is SageMakerJSONCodec


def test_a_dotted_path_codec_class_or_instance_is_loaded():
    assert isinstance(get_codec("tests.app.test_codecs.LineCodec"), LineCodec)
    assert get_codec("tests.app.test_codecs.LINE_CODEC_INSTANCE") is LINE_CODEC_INSTANCE


def test_a_custom_codec_speaks_its_own_format():
    codec = get_codec("tests.app.test_codecs.LineCodec")
    requests = [PredictionRequest(user_key="u1", num_results=2)]
    assert codec.encode(requests) == b"u1 2"
    (prediction,) = codec.decode(b"4:0.5,8:0.25", expected=1)
    assert prediction.item_ids == ("4", "8")


@pytest.mark.parametrize(
    "name", ["no.such.module.Codec", "tests.app.test_codecs.NOT_A_CODEC", "nodots"]
)
def test_an_unusable_codec_setting_is_a_configuration_error(name):
    with pytest.raises(EndpointMisconfigured):
        get_codec(name)


def test_get_codec_follows_the_setting():
    with override_settings(RECOMMENDATIONS={"CODEC": "sagemaker_json"}):
        assert type(get_codec()) is SageMakerJSONCodec
    with override_settings(RECOMMENDATIONS={"CODEC": "json"}):
        assert type(get_codec()) is JSONCodec
