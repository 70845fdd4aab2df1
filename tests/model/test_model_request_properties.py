"""Property-based tests of the model server's request handling: no input gives a 5xx.

Whatever bytes, JSON, content types, Accept values or headers a client sends, the parser answers
a request batch or a typed 4xx error, and the WSGI app answers 2xx, or 4xx with a JSON error body.
The app runs in-process through werkzeug's test client, with a small fitted model; the runtime
route's requests are signed with botocore's own SigV4 signer, so they get past authentication.
"""

import json
from datetime import UTC, datetime
from functools import cache

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from model.data.synthetic import taste_interactions
from model.inference import handlers as inference
from model.inference.protocol import InferenceError, RequestBatch, parse_body
from model.local_endpoint.shared_state import SharedState
from model.local_endpoint.wsgi import EndpointApp, EndpointConfig
from model.training.als import TrainingParams, fit

ACCESS_KEY_ID = "AKIAPROPERTYTEST0000"
SECRET = "property-test-secret"
TOKEN = "property-token"
HOST = "localhost"
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
# Requests near the real shape, so generation reaches past the first check.
instance = st.fixed_dictionaries(
    {},
    optional={
        "user_id": st.one_of(st.text(max_size=300), st.integers(), st.none()),
        "num_results": st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=3)),
        "exclude": st.one_of(st.lists(st.text(max_size=4), max_size=20), json_values),
        "context": json_values,
    },
)
request_documents = st.one_of(
    json_values,
    instance,
    st.fixed_dictionaries({"instances": st.one_of(st.lists(instance, max_size=5), json_values)}),
)
# What can arrive in an HTTP header field (gunicorn refuses control characters in values).
header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40
)
content_types = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/json"]),
    header_values,
)
# Bodies that are valid JSON syntax but strain the decoder: deep nesting (its recursion) and
# integers past Python's 4300-digit conversion limit.
straining_bodies = st.one_of(
    st.integers(1, 100_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 100_000).map(lambda n: b'{"user_id": "u", "context": ' + b"{" * n),
    st.integers(4000, 20_000).map(lambda n: b'{"user_id": "u", "num_results": ' + b"7" * n + b"}"),
)
bodies = st.one_of(
    st.binary(max_size=300),
    request_documents.map(lambda d: json.dumps(d).encode()),
    straining_bodies,
)


@cache
def app() -> EndpointApp:
    model = fit(
        taste_interactions(num_users=20, num_items=10, num_categories=2, seed=1),
        TrainingParams(factors=2, iterations=2),
    )
    config = EndpointConfig(
        endpoint_name="props",
        secrets={ACCESS_KEY_ID: SECRET},
        container_route=True,
        control_token=TOKEN,
    )
    return EndpointApp(model, config, SharedState())


def assert_no_server_error(response) -> None:
    assert response.status_code < 500, response.get_data()
    if response.status_code >= 400:
        document = json.loads(response.get_data())
        assert isinstance(document, dict)
        assert document.get("message") or document.get("Message")


@PROPERTY_SETTINGS
@given(body=st.binary(max_size=500))
def test_arbitrary_bytes_parse_or_raise_a_typed_400(body):
    try:
        assert isinstance(parse_body(body), RequestBatch)
    except InferenceError as exc:
        assert exc.status == 400


@PROPERTY_SETTINGS
@given(document=request_documents)
def test_arbitrary_json_parses_or_raises_a_typed_400(document):
    try:
        batch = parse_body(json.dumps(document))
    except InferenceError as exc:
        assert exc.status == 400
        return
    assert batch.requests
    for request in batch.requests:
        assert isinstance(request.user_id, str) and request.user_id
        assert 1 <= request.num_results <= 100


@PROPERTY_SETTINGS
@given(body=bodies, content_type=content_types, accept=st.none() | header_values)
def test_handler_functions_answer_or_raise_a_typed_4xx(body, content_type, accept):
    model = app().model
    try:
        data = inference.input_fn(body, content_type)
        answer = json.loads(inference.output_fn(inference.predict_fn(data, model), accept))
    except InferenceError as exc:
        assert 400 <= exc.status < 500
        return
    assert "predictions" in answer if data.batch else "recommendations" in answer


@PROPERTY_SETTINGS
@given(
    body=bodies,
    content_type=content_types,
    accept=st.none() | header_values,
    custom_attributes=st.none() | header_values | st.just("x" * 1025),
)
def test_container_route_never_answers_5xx(body, content_type, accept, custom_attributes):
    headers = {"Content-Type": content_type}
    if accept is not None:
        headers["Accept"] = accept
    if custom_attributes is not None:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
    response = Client(app()).post("/invocations", data=body, headers=headers)
    assert_no_server_error(response)


@PROPERTY_SETTINGS
@given(
    body=bodies,
    content_type=content_types,
    accept=st.none() | header_values,
    variant=st.none() | header_values,
    custom_attributes=st.none() | header_values,
)
def test_signed_runtime_route_never_answers_5xx(
    body, content_type, accept, variant, custom_attributes
):
    headers = {"Content-Type": content_type, "Host": HOST}
    if accept is not None:
        headers["Accept"] = accept
    if variant is not None:
        headers["X-Amzn-SageMaker-Target-Variant"] = variant
    if custom_attributes is not None:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
    signed = AWSRequest(
        method="POST", url=f"http://{HOST}/endpoints/props/invocations", data=body, headers=headers
    )
    signed.context["timestamp"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET), "sagemaker", "eu-west-1").add_auth(signed)
    response = Client(app()).post(
        "/endpoints/props/invocations",
        data=body,
        headers=dict(signed.headers.items()),
        base_url=f"http://{HOST}",
    )
    assert_no_server_error(response)


@PROPERTY_SETTINGS
@given(
    path=st.sampled_from(["/_faults", "/_stats", "/_stats/reset", "/ping", "/invocations"]),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    body=st.one_of(bodies, json_values.map(lambda d: json.dumps(d).encode())),
    content_type=content_types,
    token=st.sampled_from([TOKEN, "", "wrong"]),
)
def test_every_route_answers_json_without_a_5xx(path, method, body, content_type, token):
    response = Client(app()).open(
        path,
        method=method,
        data=body,
        headers={"Content-Type": content_type, "X-Control-Token": token},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    try:
        assert_no_server_error(response)
    finally:
        app().state.set_fault("none")  # a generated POST may have switched a fault on
