"""A tiny real HTTP server whose answers a test scripts, standing in for SageMaker Runtime and
API Gateway when a test needs one exact answer: every AWS error code and status on demand, a hang
past the read timeout, a garbage body. boto3 and requests talk real HTTP to it (no Stubber, no
patching). `model/serve.py` is the full local endpoint; this one exists so that each error shape
can be produced exactly as AWS sends it, including ones the model server has no switch for.

Also here: a port nobody listens on (connection refused) and one that never accepts (connect
timeout), and a SigV4 check so a test can prove a signature is real.
"""

import contextlib
import json
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CORAL = "http://internal.amazon.com/coral/com.amazon.coral.service/"


class QuietHTTPServer(ThreadingHTTPServer):
    """A test endpoint whose clients may hang up mid-answer on purpose (a timeout, a size limit):
    no traceback on the test's output for that, any other error still reported."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Answer:
    """What the server sends back: status, headers, body, after an optional delay in seconds."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    """A request as the server saw it, bytes and all."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client_port: int
    raw_head: bytes


def ok(payload: Any, headers: dict[str, str] | None = None) -> Answer:
    """A 200 with a JSON body."""
    return Answer(
        200,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def aws_error(status: int, code: str | None, message: str = "", **members: Any) -> Answer:
    """An error in the rest-json shape SageMaker Runtime and API Gateway use.

    botocore reads the code from `x-amzn-ErrorType` (the part before ":") and the message from the
    body; modeled members such as ModelError's `OriginalStatusCode` ride in the body too.
    """
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": "req-0001"}
    if code:
        headers["x-amzn-ErrorType"] = f"{code}:{CORAL}"
    return Answer(status, json.dumps({"message": message, **members}).encode(), headers)


def model_answer(*item_ids: Any, model_version: str = "v-test", prior: bool = False) -> dict:
    """One user's answer in the app's JSON, scores falling with rank."""
    return {
        "recommendations": [
            {"item_id": item_id, "score": 1.0 - rank / 100} for rank, item_id in enumerate(item_ids)
        ],
        "model_version": model_version,
        "prior": prior,
    }


class ScriptedEndpoint:
    """The server: `script(...)` sets the answers (the last one repeats), `received` records."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._answers: list[Answer] = [ok(model_answer())]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 keep-alive, as AWS does, so connection reuse can be observed.
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this, delayed ACKs add 40 ms.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                endpoint._serve(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def script(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order; the last one repeats."""
        with self._lock:
            self._answers = list(answers)

    def _next_answer(self) -> Answer:
        with self._lock:
            return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        raw_head = (handler.requestline + "\r\n" + str(handler.headers)).encode()
        with self._lock:
            self.received.append(
                Received(
                    method=handler.command,
                    path=handler.path,
                    headers={name.lower(): value for name, value in handler.headers.items()},
                    body=body,
                    client_port=handler.client_address[1],
                    raw_head=raw_head,
                )
            )
        answer = self._next_answer()
        if answer.delay and self._stopping.wait(answer.delay):
            return
        try:
            handler.send_response(answer.status)
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(answer.body)))
            handler.end_headers()
            handler.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its read timeout) before the delayed answer

    def close(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def app_pointed_at(endpoint: "ScriptedEndpoint", **settings: Any) -> Iterator["ScriptedEndpoint"]:
    """RECOMMENDATIONS pointed at `endpoint` (plus `settings`), with the boto3 client built, so
    that the first page does not fall back while a client warms up."""
    from django.test import override_settings

    from recommendations.backends import get_backend, reset_clients

    reset_clients()
    with override_settings(RECOMMENDATIONS={"ENDPOINT_URL": endpoint.url, **settings}):
        get_backend().warm_up("page")
        yield endpoint
    reset_clients()


@pytest.fixture(name="scripted_endpoint")
def scripted_endpoint_fixture() -> Iterator[ScriptedEndpoint]:
    """A real HTTP server on a free loopback port that answers what the test scripts."""
    endpoint = ScriptedEndpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture(name="refused_url")
def refused_url_fixture() -> str:
    """A loopback URL where nothing listens: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(name="unaccepting_url")
def unaccepting_url_fixture() -> Iterator[str]:
    """A loopback URL whose listener never accepts and whose backlog is full: connects time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    # Fill the accept queue; Linux then drops further SYNs, so a new connect hangs.
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}"
    for filler in fillers:
        filler.close()
    listener.close()


def sigv4_is_valid(
    received: Received,
    *,
    host_url: str,
    access_key: str,
    secret_key: str,
    service: str,
    region: str,
) -> bool:
    """Recompute the SigV4 signature of a received request with the expected secret."""
    authorization = received.headers.get("authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        return False
    fields = dict(
        part.strip().split("=", 1) for part in authorization[len("AWS4-HMAC-SHA256 ") :].split(",")
    )
    signed = fields["SignedHeaders"].split(";")
    headers = {name: received.headers[name] for name in signed if name != "host"}
    request = AWSRequest(
        method=received.method, url=host_url + received.path, headers=headers, data=received.body
    )
    request.context["timestamp"] = received.headers["x-amz-date"]
    token = received.headers.get("x-amz-security-token")
    auth = SigV4Auth(Credentials(access_key, secret_key, token), service, region)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    return fields["Credential"].startswith(access_key + "/") and fields["Signature"] == expected
