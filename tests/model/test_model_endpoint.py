"""The local SageMaker endpoint through real boto3 over HTTP: what the shop's client will see."""

import json
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from model.data.synthetic import taste_interactions
from tests.support.model_server import AdminRequestFailed, running_model_server

pytestmark = pytest.mark.integration

JSON = "application/json"


def invoke(server, document, client=None, **kwargs):
    client = client or server.client()
    return client.invoke_endpoint(
        EndpointName=kwargs.pop("endpoint_name", server.endpoint_name),
        Body=json.dumps(document).encode() if not isinstance(document, bytes) else document,
        ContentType=kwargs.pop("content_type", JSON),
        **kwargs,
    )


def raw_post(url, body, content_type=JSON):
    """POST without boto3 (no signature); (status, headers, body), the connection closed."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


def error_of(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["ResponseMetadata"][
        "HTTPStatusCode"
    ]


def test_single_request_returns_personal_ranking_for_known_user(model_server):
    user_id = model_server.known_user_ids[3]
    response = invoke(model_server, {"user_id": user_id, "num_results": 5})
    body = json.loads(response["Body"].read())
    assert response["ContentType"] == JSON
    assert body["prior"] is False
    assert body["model_version"] == model_server.model_version
    assert len(body["recommendations"]) == 5
    scores = [r["score"] for r in body["recommendations"]]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(r["item_id"], str) for r in body["recommendations"])


def test_unknown_user_gets_the_popularity_prior(model_server):
    body = model_server.invoke({"user_id": "never-seen", "num_results": 4})
    assert body["prior"] is True
    assert len(body["recommendations"]) == 4


def test_batch_answers_every_instance_in_order(model_server):
    known = model_server.known_user_ids[:3]
    instances = [
        {"user_id": known[0], "num_results": 2},
        {"user_id": "stranger", "num_results": 3},
        {"user_id": known[1], "num_results": 4, "exclude": ["1", "2"]},
        {"user_id": known[2]},
    ]
    body = model_server.invoke({"instances": instances})
    predictions = body["predictions"]
    assert [len(p["recommendations"]) for p in predictions] == [2, 3, 4, 10]
    assert [p["prior"] for p in predictions] == [False, True, False, False]
    assert {"1", "2"}.isdisjoint(r["item_id"] for r in predictions[2]["recommendations"])
    # The same user alone gets the same answer as inside the batch.
    alone = model_server.invoke(instances[0])
    assert alone["recommendations"] == predictions[0]["recommendations"]
    assert model_server.stats()["instances"] == 5


def test_variant_and_custom_attributes_are_echoed(model_server):
    response = invoke(model_server, {"user_id": "u"}, CustomAttributes="trace=abc-123")
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["CustomAttributes"] == "trace=abc-123"
    response = invoke(model_server, {"user_id": "u"}, TargetVariant="Challenger")
    assert response["InvokedProductionVariant"] == "Challenger"
    assert "CustomAttributes" not in response
    assert model_server.stats()["by_variant"] == {"AllTraffic": 1, "Challenger": 1}


def test_wrong_secret_raises_invalid_signature(model_server):
    client = boto3.session.Session().client(
        "sagemaker-runtime",
        endpoint_url=model_server.url,
        region_name=model_server.region,
        aws_access_key_id=model_server.access_key_id,
        aws_secret_access_key="not-the-secret",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    with pytest.raises(ClientError) as excinfo:
        invoke(model_server, {"user_id": "u"}, client=client)
    assert error_of(excinfo) == ("InvalidSignatureException", 403)
    assert model_server.invocations() == 0


def test_unknown_access_key_raises_unrecognized_client(model_server):
    client = boto3.session.Session().client(
        "sagemaker-runtime",
        endpoint_url=model_server.url,
        region_name=model_server.region,
        aws_access_key_id="AKIAUNKNOWN000000000",
        aws_secret_access_key=model_server.secret_access_key,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    with pytest.raises(ClientError) as excinfo:
        invoke(model_server, {"user_id": "u"}, client=client)
    assert error_of(excinfo) == ("UnrecognizedClientException", 403)


def test_unsigned_request_is_refused(model_server):
    status, headers, body = raw_post(
        f"{model_server.url}/endpoints/{model_server.endpoint_name}/invocations",
        b'{"user_id": "u"}',
    )
    assert status == 403
    assert headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")
    assert json.loads(body)["message"] == "Missing Authentication Token"
    assert model_server.invocations() == 0


def test_unknown_endpoint_raises_validation_error(model_server):
    client = model_server.client()
    with pytest.raises(client.exceptions.ValidationError) as excinfo:
        invoke(model_server, {"user_id": "u"}, client=client, endpoint_name="no-such-endpoint")
    assert error_of(excinfo) == ("ValidationError", 400)
    assert "no-such-endpoint" in excinfo.value.response["Error"]["Message"]


def test_malformed_json_is_a_model_error_carrying_the_4xx_message(model_server):
    client = model_server.client()
    with pytest.raises(client.exceptions.ModelError) as excinfo:
        invoke(model_server, b'{"user_id": ', client=client)
    response = excinfo.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert "not valid JSON" in json.loads(response["OriginalMessage"])["message"]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"user_id": "u", "num_results": 0}, "num_results"),
        ({"user_id": "u", "num_results": 101}, "num_results"),
        ({"num_results": 5}, "user_id"),
        ({"instances": [{"user_id": "u"}, {"user_id": 5}]}, "instances[1].user_id"),
    ],
)
def test_invalid_requests_name_the_bad_field(model_server, document, field):
    client = model_server.client()
    with pytest.raises(client.exceptions.ModelError) as excinfo:
        invoke(model_server, document, client=client)
    assert excinfo.value.response["OriginalStatusCode"] == 400
    assert json.loads(excinfo.value.response["OriginalMessage"])["message"].startswith(field)


def test_hang_makes_the_client_time_out(model_server):
    model_server.set_fault("hang")
    with pytest.raises(ReadTimeoutError):
        invoke(model_server, {"user_id": "u"}, client=model_server.client(read_timeout=0.5))
    model_server.set_fault("none")
    # The server is free again for the next caller.
    assert model_server.invoke({"user_id": "u"})["recommendations"]


def test_added_latency_beyond_the_read_timeout_times_out(model_server):
    model_server.set_fault("none", latency_ms=2000)
    with pytest.raises(ReadTimeoutError):
        invoke(model_server, {"user_id": "u"}, client=model_server.client(read_timeout=0.3))


def test_added_latency_within_the_read_timeout_still_answers(model_server):
    model_server.set_fault("none", latency_ms=50)
    response = invoke(model_server, {"user_id": "u"}, client=model_server.client(read_timeout=10))
    assert json.loads(response["Body"].read())["recommendations"]


def test_http500_raises_internal_failure(model_server):
    model_server.set_fault("http500")
    client = model_server.client()
    with pytest.raises(client.exceptions.InternalFailure) as excinfo:
        invoke(model_server, {"user_id": "u"}, client=client)
    assert error_of(excinfo) == ("InternalFailure", 500)


def test_throttle_raises_throttling_exception_429(model_server):
    model_server.set_fault("throttle")
    with pytest.raises(ClientError) as excinfo:
        invoke(model_server, {"user_id": "u"})
    assert error_of(excinfo) == ("ThrottlingException", 429)


def test_garbage_is_a_200_whose_body_is_not_json(model_server):
    model_server.set_fault("garbage")
    response = invoke(model_server, {"user_id": "u"})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ValueError):
        json.loads(response["Body"].read())


def test_model_error_raises_model_error(model_server):
    model_server.set_fault("model_error")
    client = model_server.client()
    with pytest.raises(client.exceptions.ModelError) as excinfo:
        invoke(model_server, {"user_id": "u"}, client=client)
    assert error_of(excinfo) == ("ModelError", 424)
    assert excinfo.value.response["OriginalStatusCode"] == 500


def test_unavailable_raises_service_unavailable(model_server):
    model_server.set_fault("unavailable")
    client = model_server.client()
    with pytest.raises(client.exceptions.ServiceUnavailable) as excinfo:
        invoke(model_server, {"user_id": "u"}, client=client)
    assert error_of(excinfo) == ("ServiceUnavailable", 503)


def test_faulted_invocations_are_counted_and_reset(model_server):
    model_server.set_fault("throttle")
    for _ in range(3):
        with pytest.raises(ClientError):
            invoke(model_server, {"user_id": "u"})
    assert model_server.invocations() == 3
    model_server.reset_stats()
    assert model_server.stats() == {"invocations": 0, "instances": 0, "by_variant": {}}


def test_fault_switch_rejects_unknown_modes(model_server):
    with pytest.raises(AdminRequestFailed) as excinfo:
        model_server.set_fault("explode")
    assert excinfo.value.status == 400
    assert "mode must be one of" in excinfo.value.body
    assert model_server.fault() == {"mode": "none", "latency_ms": 0}


def test_ping_reports_the_model_version(model_server):
    with urllib.request.urlopen(f"{model_server.url}/ping", timeout=5) as response:
        assert json.loads(response.read())["model_version"] == model_server.model_version


def test_flags_set_faults_and_variants_and_workers_share_counters(tmp_path):
    data = taste_interactions(num_users=40, num_items=20, seed=3)
    with running_model_server(
        tmp_path,
        data,
        endpoint_name="two-workers",
        extra_args=(
            *("--variant", "Blue", "--variant", "Green"),
            *("--workers", "2", "--threads", "2"),
            *("--fault", "unavailable", "--fault-latency-ms", "10"),
        ),
    ) as server:
        assert server.fault() == {"mode": "unavailable", "latency_ms": 10}
        client = server.client()
        with pytest.raises(client.exceptions.ServiceUnavailable):
            invoke(server, {"user_id": "u"}, client=client)
        server.set_fault("none")
        response = invoke(server, {"user_id": "u"})
        assert response["InvokedProductionVariant"] == "Blue"  # the first one is the default
        with pytest.raises(client.exceptions.ValidationError):
            invoke(server, {"user_id": "u"}, client=client, TargetVariant="Red")
        # Fresh connections spread over both workers; the counters and the fault are shared.
        server.set_fault("throttle")
        for _ in range(6):
            with pytest.raises(ClientError) as excinfo:
                invoke(server, {"user_id": "u"}, client=server.client(), TargetVariant="Green")
            assert error_of(excinfo) == ("ThrottlingException", 429)
        assert server.stats()["by_variant"] == {"Blue": 2, "Green": 6}


def test_throttling_is_retried_by_botocore_standard_mode(model_server):
    # botocore's `max_attempts` counts retries: 1 means a second call after a throttle.
    model_server.set_fault("throttle")
    client = model_server.client(retries={"max_attempts": 1, "mode": "standard"})
    with pytest.raises(ClientError):
        invoke(model_server, {"user_id": "u"}, client=client)
    assert model_server.invocations() == 2
