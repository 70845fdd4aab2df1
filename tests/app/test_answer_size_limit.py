"""An endpoint that answers far more than a ranking can need is cut off while reading: the page
gets a BadResponse (so the fallback), never a process that reads tens of megabytes into memory.

The server here is a tiny `http.server` of this test's own rather than `tests/scripted_endpoint`
or `model/serve.py`: it streams its body in chunks with no Content-Length (so the client cannot
refuse it up front and has to stop reading), and it counts how many bytes the client took before
hanging up, which is what shows that the client stopped early.
"""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from recommendations.backends import get_backend
from recommendations.backends.base import PredictionRequest
from recommendations.backends.codecs import JSONCodec
from recommendations.backends.sagemaker import read_only_the_start_of_error_answers
from recommendations.exceptions import BadResponse, EndpointUnavailable
from tests.support.scripted_endpoint import (
    Answer,
    QuietHTTPServer,
    scripted_endpoint_fixture,  # noqa: F401 (fixture "scripted_endpoint")
)

pytestmark = pytest.mark.usefixtures("fresh_clients", "test_keys")
HUGE_BYTES = 32 * 1024 * 1024
CHUNK = 64 * 1024


def padded_answer(total_bytes: int) -> Iterator[bytes]:
    """A valid one-user answer whose JSON is `total_bytes` long, padded by an unknown field."""
    head = json.dumps({"recommendations": [{"item_id": "1", "score": 1.0}], "padding": ""})
    head = head[:-2].encode()  # up to the padding string's opening quote
    yield head
    left = total_bytes - len(head) - 2
    while left > 0:
        size = min(CHUNK, left)
        yield b"x" * size
        left -= size
    yield b'"}'


class StreamingEndpoint:
    """Answers every POST with `status` and a streamed (chunked) body of `total_bytes`."""

    def __init__(self, status: int = 200, total_bytes: int = HUGE_BYTES) -> None:
        self.sent = 0
        self.finished = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for piece in padded_answer(total_bytes):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        endpoint.sent += len(piece)
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading and hung up: what the test wants
                finally:
                    endpoint.finished.set()
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def streaming_endpoint() -> Iterator[Any]:
    endpoints: list[StreamingEndpoint] = []

    def start(**kwargs: Any) -> StreamingEndpoint:
        endpoint = StreamingEndpoint(**kwargs)
        endpoints.append(endpoint)
        return endpoint

    yield start
    for endpoint in endpoints:
        endpoint.close()


BACKENDS = {
    "http": lambda url: {
        "BACKEND": "http",
        "HTTP_URL": url + "/prod/recommend",
        "HTTP_API_KEY": "k",
    },
    "sagemaker": lambda url: {"BACKEND": "sagemaker", "ENDPOINT_NAME": "shop", "ENDPOINT_URL": url},
}


def call_with(settings, backend: str, url: str, **overrides: Any):
    settings.RECOMMENDATIONS = {
        **BACKENDS[backend](url),
        "REGION": "eu-west-1",
        "BUDGET_MS": 2000,
        "TASK_MAX_ATTEMPTS": 1,
        **overrides,
    }
    request = PredictionRequest(user_key="p-7f3a", num_results=3)
    return get_backend().recommend(request, purpose="task")


def test_the_padded_answer_is_valid_json_a_ranking_in_it():
    # Guards the test itself: without a limit the body would decode to one good prediction.
    body = b"".join(padded_answer(200_000))
    assert len(body) == 200_000
    (prediction,) = JSONCodec().decode(body, 1)
    assert prediction.item_ids == ("1",)


@pytest.mark.parametrize("backend", ["http", "sagemaker"])
def test_a_huge_answer_is_a_bad_response_read_only_in_part(backend, settings, streaming_endpoint):
    endpoint = streaming_endpoint()
    with pytest.raises(BadResponse, match="larger than"):
        call_with(settings, backend, endpoint.url)
    assert endpoint.finished.wait(10)
    # The client hung up after its limit; socket buffers hold a few MB at most.
    assert endpoint.sent < HUGE_BYTES // 2


@pytest.mark.parametrize("backend", ["http", "sagemaker"])
def test_an_answer_within_the_limit_still_decodes(backend, settings, streaming_endpoint):
    endpoint = streaming_endpoint(total_bytes=300_000)
    prediction = call_with(settings, backend, endpoint.url)
    assert prediction.item_ids == ("1",)


@pytest.mark.parametrize("backend", ["http", "sagemaker"])
def test_a_huge_error_answer_is_read_only_in_part(backend, settings, streaming_endpoint):
    endpoint = streaming_endpoint(status=503)
    with pytest.raises(EndpointUnavailable):
        call_with(settings, backend, endpoint.url)
    assert endpoint.finished.wait(10)
    assert endpoint.sent < HUGE_BYTES // 2


@pytest.mark.parametrize("backend", ["http", "sagemaker"])
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff\xfe not UTF-8 \x80", id="not-utf-8"),
        # Longer than what is read of an error answer, so the read ends inside a character.
        pytest.param(
            b'{"message": "' + "\u20ac".encode() * 40_000 + b'"}', id="cut-in-a-character"
        ),
    ],
)
def test_an_error_answer_whose_body_is_not_text_is_still_an_endpoint_error(
    backend, body, settings, scripted_endpoint
):
    scripted_endpoint.script(
        Answer(
            500, body, {"Content-Type": "application/json", "x-amzn-ErrorType": "InternalFailure"}
        )
    )
    with pytest.raises(EndpointUnavailable):
        call_with(settings, backend, scripted_endpoint.url)


def test_the_limit_grows_with_the_users_in_a_call():
    codec = JSONCodec()
    # One user's answer may hold MAX_ITEMS_PER_ANSWER items with the longest ids.
    assert codec.max_answer_bytes(1) >= 1000 * 300
    assert codec.max_answer_bytes(50) >= 50 * codec.max_answer_bytes(1) * 0.9


def test_an_answer_that_declares_a_huge_length_is_refused_up_front(settings, scripted_endpoint):
    limit = JSONCodec().max_answer_bytes(1)
    scripted_endpoint.script(Answer(200, b" " * (limit + 1), {"Content-Type": "application/json"}))
    with pytest.raises(BadResponse, match="Content-Length"):
        call_with(settings, "http", scripted_endpoint.url)


def test_a_botocore_that_keeps_its_session_elsewhere_reads_error_answers_whole_with_a_warning(
    caplog,
):

    # Stands for a client of a botocore version without `_endpoint.http_session`: the one place
    # the bound reaches into botocore, which must not break making a client.
    class ClientWithoutEndpoint:
        pass

    read_only_the_start_of_error_answers(ClientWithoutEndpoint())
    assert "error answers are read whole" in caplog.text
