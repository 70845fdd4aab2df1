"""The model server's limits: body sizes, the unauthenticated route, the test controls, bad JSON.

Over HTTP against `python -m model.serve` (gunicorn) where the server's own reading matters, and
through werkzeug's test client against the WSGI app where a fake stream can count what is read.
"""

import http.client
import io
import json
import select
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from werkzeug.test import Client, EnvironBuilder

from model.data.synthetic import taste_interactions
from model.local_endpoint.shared_state import SharedState
from model.local_endpoint.wsgi import MAX_BODY_BYTES, EndpointApp, EndpointConfig
from model.training.als import TrainingParams, fit
from tests.support.model_server import CONTROL_TOKEN_HEADER, running_model_server

JSON = "application/json"
NESTED = b'{"user_id": "u", "context": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
BIG = 50 * 1024 * 1024
_CHUNK = 64 * 1024


def post_chunked(url, path, total_bytes, headers=None):
    """POST `total_bytes` with chunked transfer encoding, stopping as soon as the server answers.

    Returns (status, headers, body, bytes sent): a server that refuses early is seen to have
    answered before the client sent everything.
    """
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Transfer-Encoding: chunked"]
    lines += [
        f"{name}: {value}" for name, value in {"Content-Type": JSON, **(headers or {})}.items()
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    framed = f"{_CHUNK:x}\r\n".encode() + b" " * _CHUNK + b"\r\n"
    sent = 0
    try:
        while sent < total_bytes:
            if select.select([sock], [], [], 0)[0]:
                break  # the answer is there: stop sending
            sock.sendall(framed)
            sent += _CHUNK
        else:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed after answering; the answer is still in our receive buffer
    response = http.client.HTTPResponse(sock, method="POST")
    try:
        response.begin()
        return response.status, response.headers, response.read(), sent
    finally:
        response.close()
        sock.close()


def raw_request(url, method="GET", body=None, headers=None):
    """(status, headers, body) without boto3 and without a signature."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


# --- #15.9: every body is limited to 6 MB before it is read -------------------------------------


@pytest.mark.integration
def test_oversized_chunked_body_is_refused_before_the_signature_check(model_server):
    path = f"/endpoints/{model_server.endpoint_name}/invocations"
    status, headers, body, sent = post_chunked(model_server.url, path, BIG)
    assert status == 400
    assert headers["x-amzn-ErrorType"].startswith("ValidationError")
    assert "exceeds the limit" in json.loads(body)["message"]
    assert sent < BIG  # answered while the client was still sending
    assert model_server.invocations() == 0


@pytest.mark.integration
def test_oversized_chunked_body_to_the_fault_switch_is_refused(model_server):
    headers = {CONTROL_TOKEN_HEADER: model_server.control_token}
    status, _, body, sent = post_chunked(model_server.url, "/_faults", BIG, headers)
    assert status == 413
    assert json.loads(body)["error"] == "PayloadTooLarge"
    assert sent < BIG


class CountingStream(io.RawIOBase):
    """Stands for gunicorn's reader of a chunked body: 50 MB of spaces, counting what is read."""

    def __init__(self, size: int = BIG) -> None:
        self.read_bytes = 0
        self.size = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(len(buffer), 1 << 20, self.size - self.read_bytes)
        buffer[:size] = b" " * size
        self.read_bytes += size
        return size


@pytest.fixture(scope="module")
def small_model():
    return fit(
        taste_interactions(num_users=20, num_items=10, num_categories=2, seed=3),
        TrainingParams(factors=2, iterations=2),
    )


def wsgi_app(model, **config):
    return EndpointApp(
        model,
        EndpointConfig(endpoint_name="limits", secrets={"AKID": "secret"}, **config),
        SharedState(),
    )


@pytest.mark.parametrize(
    ("path", "expected_status"),
    [("/endpoints/limits/invocations", 400), ("/_faults", 413), ("/invocations", 413)],
)
def test_a_streamed_body_is_read_no_further_than_the_limit(small_model, path, expected_status):
    app = wsgi_app(small_model, container_route=True, control_token="t0ken")
    stream = CountingStream()
    environ = EnvironBuilder(
        path=path,
        method="POST",
        content_type=JSON,
        headers={CONTROL_TOKEN_HEADER: "t0ken"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    ).get_environ()
    # What gunicorn sets for a chunked request: no length, and a stream it ends itself.
    environ.pop("CONTENT_LENGTH", None)
    environ.update(
        {"wsgi.input": stream, "wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"}
    )
    status = []
    body = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    assert int(status[0].split()[0]) == expected_status
    assert json.loads(body)
    assert stream.read_bytes <= MAX_BODY_BYTES + (1 << 20)


# --- #15.10: the unauthenticated container route ------------------------------------------------


@pytest.mark.integration
def test_local_server_does_not_serve_the_unauthenticated_container_route(model_server):
    status, headers, _ = raw_request(
        f"{model_server.url}/invocations", "POST", b'{"user_id": "u"}', {"Content-Type": JSON}
    )
    assert status == 404
    assert headers["x-amzn-ErrorType"].startswith("UnknownOperationException")
    assert model_server.invocations() == 0


@pytest.mark.integration
def test_container_route_is_served_behind_its_flag(tmp_path):
    data = taste_interactions(num_users=20, num_items=10, num_categories=2, seed=4)
    with running_model_server(tmp_path, data, extra_args=("--container-route",)) as server:
        status, _, body = raw_request(
            f"{server.url}/invocations", "POST", b'{"user_id": "u"}', {"Content-Type": JSON}
        )
        assert status == 200
        assert json.loads(body)["prior"] is True


def test_local_server_binds_loopback_by_default():
    from model.local_endpoint.server import build_parser

    assert build_parser().parse_args([]).host == "127.0.0.1"


# --- #15.11: the test controls want JSON, a token, and a bounded latency ------------------------


@pytest.mark.integration
def test_fault_switch_refuses_a_text_plain_post(model_server):
    status, _, body = raw_request(
        f"{model_server.url}/_faults",
        "POST",
        b'{"mode": "hang"}',
        {"Content-Type": "text/plain", CONTROL_TOKEN_HEADER: model_server.control_token},
    )
    assert status == 415
    assert json.loads(body)["error"] == "UnsupportedMediaType"
    assert model_server.fault()["mode"] == "none"


@pytest.mark.integration
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_fault_switch_refuses_a_post_without_the_token(model_server, token):
    headers = {"Content-Type": JSON}
    if token:
        headers[CONTROL_TOKEN_HEADER] = token
    status, _, body = raw_request(
        f"{model_server.url}/_faults", "POST", b'{"mode": "hang"}', headers
    )
    assert status == 403
    assert json.loads(body)["error"] == "Forbidden"
    assert model_server.fault()["mode"] == "none"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/_stats"), ("POST", "/_stats/reset"), ("GET", "/_faults")]
)
def test_other_test_controls_want_the_token_too(model_server, method, path):
    status, _, _ = raw_request(
        f"{model_server.url}{path}", method, b"" if method == "POST" else None
    )
    assert status == 403


@pytest.mark.integration
def test_fault_latency_is_capped(model_server):
    status, _, body = raw_request(
        f"{model_server.url}/_faults",
        "POST",
        json.dumps({"mode": "none", "latency_ms": 600_000}).encode(),
        {"Content-Type": JSON, CONTROL_TOKEN_HEADER: model_server.control_token},
    )
    assert status == 400
    assert "latency_ms" in json.loads(body)["message"]
    assert model_server.fault() == {"mode": "none", "latency_ms": 0}


@pytest.mark.integration
def test_server_prints_the_token_it_made_and_accepts_it(tmp_path):
    data = taste_interactions(num_users=20, num_items=10, num_categories=2, seed=4)
    with running_model_server(tmp_path, data, control_token="") as server:
        assert server.control_token  # read from what the server printed
        server.set_fault("throttle", latency_ms=5)
        assert server.fault() == {"mode": "throttle", "latency_ms": 5}


# --- #15.12: deeply nested JSON is a 400 like any other bad body --------------------------------


@pytest.mark.integration
def test_deeply_nested_json_is_a_400_model_error_not_a_500(model_server):
    client = model_server.client()
    with pytest.raises(client.exceptions.ModelError) as excinfo:
        client.invoke_endpoint(
            EndpointName=model_server.endpoint_name, Body=NESTED, ContentType=JSON
        )
    assert excinfo.value.response["OriginalStatusCode"] == 400
    assert "nested" in json.loads(excinfo.value.response["OriginalMessage"])["message"]


@pytest.mark.integration
def test_deeply_nested_json_to_the_fault_switch_is_a_400(model_server):
    status, _, body = raw_request(
        f"{model_server.url}/_faults",
        "POST",
        b"[" * 100_000 + b"]" * 100_000,
        {"Content-Type": JSON, CONTROL_TOKEN_HEADER: model_server.control_token},
    )
    assert status == 400
    assert json.loads(body)["error"] == "BadRequest"


def test_deeply_nested_json_on_the_container_route_is_a_400(small_model):
    client = Client(wsgi_app(small_model, container_route=True))
    response = client.post("/invocations", data=NESTED, content_type=JSON)
    assert response.status_code == 400
    assert response.json["error"] == "BadRequest"


def test_an_integer_past_pythons_digit_limit_is_a_400_not_a_500(small_model):
    # Found by tests/model/test_model_request_properties.py: json raises a plain ValueError here.
    body = b'{"user_id": "u", "num_results": ' + b"7" * 5000 + b"}"
    response = Client(wsgi_app(small_model, container_route=True)).post(
        "/invocations", data=body, content_type=JSON
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json["message"]
