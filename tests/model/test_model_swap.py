"""Redeploying without a blip: model.release switches `current`, the running model.serve swaps.

Real parts only: the server is `python -m model.serve` (gunicorn, two workers) on loopback, the
clients are boto3 `sagemaker-runtime` clients with a single attempt, so any failed request would
surface as an exception.
"""

import json
import threading
import time

import pytest

from model.data.interactions import Interactions, write_jsonl
from model.data.synthetic import taste_interactions
from model.training.als import TrainingParams
from model.training.release import activate, release
from tests.support.model_server import running_model_server

pytestmark = pytest.mark.integration

PARAMS = TrainingParams(factors=4, iterations=3)
CLIENTS = 4
ANSWERS_BEFORE_SWAP = 15  # per client, on the old model
ANSWERS_AFTER_SWAP = 15  # per client, once it got the new model
DEADLINE = 60.0  # seconds: generous, the machine is shared


def write_training_data(folder, interactions: Interactions) -> None:
    folder.mkdir(parents=True)
    write_jsonl(folder / "interactions.jsonl", interactions)


@pytest.fixture
def models(tmp_path):
    """A models folder with version 1 current, and training data for a version 2."""
    first, second = tmp_path / "train-1", tmp_path / "train-2"
    write_training_data(first, taste_interactions(200, 80, 5, seed=7))
    write_training_data(second, taste_interactions(200, 80, 5, seed=8))
    models_dir = tmp_path / "models"
    old = release(first, models_dir, run_evaluation=False, params=PARAMS)["model_version"]
    return models_dir, old, second


def _hammer(server, user_id, answers, errors, stop) -> None:
    """One client: requests back to back, recording the model version of every answer.

    It takes turns between six boto3 clients: six kept-alive connections, which the two
    workers accept at random, so one client's sequence goes through both workers.
    """
    clients = [server.client(read_timeout=10) for _ in range(6)]
    body = json.dumps({"user_id": user_id, "num_results": 5}).encode()
    turn = 0
    while not stop.is_set():
        client = clients[turn % len(clients)]
        turn += 1
        try:
            response = client.invoke_endpoint(
                EndpointName=server.endpoint_name, Body=body, ContentType="application/json"
            )
            answers.append(json.loads(response["Body"].read())["model_version"])
        except Exception as error:  # any failure at all is what this test looks for
            errors.append(repr(error))
            return


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_requests_during_a_swap_never_fail_and_switch_version_once(tmp_path, models):
    models_dir, old, second_data = models
    with running_model_server(
        tmp_path,
        model_dir=models_dir / "current",
        extra_args=("--workers", "2", "--threads", "4", "--watch-interval", "2"),
    ) as server:
        users = server.known_user_ids[:CLIENTS]
        answers = [[] for _ in users]
        errors: list[str] = []
        stop = threading.Event()
        threads = [
            threading.Thread(target=_hammer, args=(server, user, answers[n], errors, stop))
            for n, user in enumerate(users)
        ]
        for thread in threads:
            thread.start()
        try:
            _wait(lambda: all(len(a) >= ANSWERS_BEFORE_SWAP for a in answers) or errors, "answers")
            # Trained while the clients keep going, then switched with one rename.
            new = release(second_data, models_dir, run_evaluation=False, params=PARAMS)[
                "model_version"
            ]
            assert new != old

            def settled() -> bool:
                return bool(errors) or all(
                    a.count(new) >= ANSWERS_AFTER_SWAP for a in (list(x) for x in answers)
                )

            _wait(settled, "every client to get the new model")
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        assert errors == []
        for sequence in answers:
            switch = sequence.index(new)
            assert switch >= ANSWERS_BEFORE_SWAP
            # old ... old, new ... new: exactly one switch, never back.
            assert sequence == [old] * switch + [new] * (len(sequence) - switch)
        assert "Traceback" not in server.log()


def test_a_request_in_flight_finishes_on_the_model_it_started_with(tmp_path, models):
    models_dir, old, second_data = models
    new = release(second_data, tmp_path / "staging-models", run_evaluation=False, params=PARAMS)[
        "model_version"
    ]
    # The new version is released into the served folder without switching yet.
    (tmp_path / "staging-models" / new).rename(models_dir / new)
    with running_model_server(
        tmp_path,
        model_dir=models_dir / "current",
        extra_args=("--threads", "4", "--watch-interval", "0.1"),
    ) as server:
        user = server.known_user_ids[0]
        server.set_fault("none", latency_ms=1500)  # every invocation now takes 1.5 s
        slow: dict = {}

        def slow_request() -> None:
            try:
                slow["version"] = server.invoke({"user_id": user})["model_version"]
            except Exception as error:
                slow["error"] = repr(error)

        thread = threading.Thread(target=slow_request)
        thread.start()
        _wait(lambda: server.invocations() == 1, "the slow request to arrive")
        activate(models_dir, new)
        _wait(lambda: _pinged_version(server) == new, "the server to swap")
        thread.join(timeout=30)
        assert slow == {"version": old}  # started before the swap: answered by the old model
        server.set_fault("none")
        assert server.invoke({"user_id": user})["model_version"] == new


def _pinged_version(server) -> str:
    import urllib.request

    with urllib.request.urlopen(server.url + "/ping", timeout=5) as response:
        return json.loads(response.read())["model_version"]
