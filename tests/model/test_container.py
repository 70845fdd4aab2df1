"""The SageMaker container's entrypoints, run as the image runs them, without Docker.

Each test takes ENTRYPOINT from model/Dockerfile, appends `serve` or `train` as SageMaker does,
and runs it in a copy of the image's WORKDIR (a folder holding only `model/`, so nothing else of
the repository is importable) with OPT_ML_ROOT pointing at a temporary /opt/ml tree. The interpreter is this one: the image's
`python` has the same packages (model/requirements.txt, checked below against the imports).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from model.aws import container, hyperparameters, imports
from model.data.interactions import write_jsonl
from model.data.synthetic import taste_interactions
from model.training import run as train
from tests.support.model_server import REPO_ROOT, free_port, train_model

pytestmark = pytest.mark.integration

DOCKERFILE = REPO_ROOT / "model" / "Dockerfile"
JSON = "application/json"
START_TIMEOUT = 60.0


def dockerfile_instruction(name):
    """The argument of the last `name` instruction in model/Dockerfile."""
    matches = re.findall(rf"^{name}\s+(.+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert matches, f"model/Dockerfile has no {name}"
    return matches[-1].strip()


def entrypoint_command(*arguments):
    """The image's ENTRYPOINT (exec form) plus `arguments`, with this interpreter as `python`."""
    command = json.loads(dockerfile_instruction("ENTRYPOINT"))
    assert command[0] == "python"
    return [sys.executable, *command[1:], *arguments]


def container_environment(root, **extra):
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SAGEMAKER_", "SM_", "OPT_ML"))
    }
    return {**environment, "OPT_ML_ROOT": str(root), **extra}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The image's /opt/program: `model/` alone, as `COPY model/ model/` leaves it."""
    program = tmp_path_factory.mktemp("program")
    shutil.copytree(
        REPO_ROOT / "model", program / "model", ignore=shutil.ignore_patterns("__pycache__")
    )
    return program


def run_train(workdir, root, hyperparameters=None):
    if hyperparameters is not None:
        config = root / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        text = hyperparameters if isinstance(hyperparameters, str) else json.dumps(hyperparameters)
        (config / "hyperparameters.json").write_text(text)
    return subprocess.run(
        entrypoint_command("train"),
        cwd=workdir,
        env=container_environment(root),
        capture_output=True,
        text=True,
        timeout=300,
    )


def request(url, method="GET", body=None, headers=None):
    """(status, headers, body) of one HTTP request, errors included."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


def test_dockerfile_copies_model_into_its_workdir_as_the_tests_assume():
    assert dockerfile_instruction("WORKDIR") == "/opt/program"
    assert "COPY model/ model/" in DOCKERFILE.read_text()
    assert dockerfile_instruction("FROM").startswith("python:3")


def test_image_requirements_are_what_the_entrypoint_imports():
    _, imported = imports.import_closure("container")
    listed = [
        line
        for line in (REPO_ROOT / "model" / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert listed == imports.requirements_for(imported)


# --- serve --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory, workdir):
    """`serve` on a free loopback port with two workers, the model in <root>/model."""
    root = tmp_path_factory.mktemp("opt-ml")
    model_version, user_ids = train_model(
        root / "model", taste_interactions(num_users=40, num_items=20, num_categories=2, seed=9)
    )
    port = free_port()
    log_path = root / "serve.log"
    environment = container_environment(
        root,
        SAGEMAKER_BIND_TO_PORT=str(port),
        CONTAINER_BIND_HOST="127.0.0.1",
        SAGEMAKER_MODEL_SERVER_WORKERS="2",
        SAGEMAKER_MODEL_SERVER_TIMEOUT="30",
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            entrypoint_command("serve"),
            cwd=workdir,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            try:
                if request(url + "/ping")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        yield {"url": url, "process": process, "version": model_version, "users": user_ids}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def invoke(served, body, content_type=JSON, **headers):
    return request(
        served["url"] + "/invocations", "POST", body, {"Content-Type": content_type, **headers}
    )


def test_ping_answers_200_with_the_model_version(served):
    status, _, body = request(served["url"] + "/ping")
    assert status == 200
    assert json.loads(body)["model_version"] == served["version"]


def test_invocations_answers_a_known_user_with_the_model(served):
    user_id = served["users"][5]
    status, headers, body = invoke(
        served, json.dumps({"user_id": user_id, "num_results": 3}).encode()
    )
    assert status == 200
    assert headers["Content-Type"] == JSON
    document = json.loads(body)
    assert document["prior"] is False
    assert len(document["recommendations"]) == 3
    assert document["model_version"] == served["version"]


def test_invocations_takes_the_content_types_the_app_sends(served):
    # The app's codec sends application/json; a charset parameter must not matter either.
    for content_type in (JSON, "application/json; charset=utf-8"):
        status, _, body = invoke(
            served,
            b'{"instances": [{"user_id": "a"}, {"user_id": "b"}]}',
            content_type,
            Accept=JSON,
        )
        assert status == 200
        assert len(json.loads(body)["predictions"]) == 2


def test_custom_attributes_are_handed_back(served):
    status, headers, _ = invoke(
        served, b'{"user_id": "u"}', **{"X-Amzn-SageMaker-Custom-Attributes": "trace=abc-123"}
    )
    assert status == 200
    assert headers["X-Amzn-SageMaker-Custom-Attributes"] == "trace=abc-123"


def test_overlong_custom_attributes_are_a_400(served):
    status, _, body = invoke(
        served, b'{"user_id": "u"}', **{"X-Amzn-SageMaker-Custom-Attributes": "x" * 1025}
    )
    assert status == 400
    assert "custom attributes" in json.loads(body)["message"]


def test_malformed_json_is_a_400_json_error(served):
    status, _, body = invoke(served, b"not json")
    assert status == 400
    document = json.loads(body)
    assert document["error"] == "BadRequest"
    assert "not valid JSON" in document["message"]


def test_wrong_content_type_is_a_415(served):
    status, _, body = invoke(served, b"user_id=u", "text/csv")
    assert status == 415
    assert "text/csv" in json.loads(body)["message"]


def test_body_over_sagemakers_6_mb_is_a_413(served):
    status, _, body = invoke(served, b" " * (6 * 1024 * 1024 + 1))
    assert status == 413
    assert json.loads(body)["error"] == "PayloadTooLarge"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/endpoints/container/invocations"), ("GET", "/_faults"), ("GET", "/_stats")],
)
def test_container_has_no_runtime_route_and_no_test_controls(served, method, path):
    status, _, _ = request(served["url"] + path, method, b"{}" if method == "POST" else None)
    assert status == 404


def test_workers_follow_sagemaker_model_server_workers(served):
    pid = served["process"].pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    assert len(children.split()) == 2


def test_serve_without_a_model_exits_non_zero(tmp_path, workdir):
    result = subprocess.run(
        entrypoint_command("serve"),
        cwd=workdir,
        env=container_environment(tmp_path, SAGEMAKER_BIND_TO_PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "no model in" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "many"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "0"),
        ("SAGEMAKER_BIND_TO_PORT", "http"),
    ],
)
def test_bad_server_settings_are_refused_by_name(name, value):
    with pytest.raises(container.ContainerError, match=name):
        container.serve_settings({name: value})


def test_server_settings_default_to_sagemakers():
    settings = container.serve_settings({})
    assert (settings.host, settings.port, settings.timeout_seconds) == ("0.0.0.0", 8080, 60)  # noqa: S104
    assert settings.workers >= 1
    settings = container.serve_settings(
        {"SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "90"}
    )
    assert (settings.workers, settings.timeout_seconds) == (3, 90)


# --- train --------------------------------------------------------------------------------------


@pytest.fixture
def opt_ml(tmp_path):
    """An /opt/ml tree whose training channel holds two export files."""
    channel = tmp_path / "input" / "data" / "train"
    channel.mkdir(parents=True)
    data = taste_interactions(num_users=50, num_items=20, num_categories=2, seed=2)
    write_jsonl(channel / "interactions-1-400.jsonl", data)
    return tmp_path


def test_train_writes_the_model_from_string_hyperparameters(workdir, opt_ml):
    result = run_train(
        workdir,
        opt_ml,
        {"factors": "4", "iterations": "3", "half_life_days": "10", "no_evaluate": "true"},
    )
    assert result.returncode == 0, result.stderr
    assert {"model.npz", "model.json", "metrics.json"} <= {
        p.name for p in (opt_ml / "model").iterdir()
    }
    metrics = json.loads((opt_ml / "output" / "data" / "metrics.json").read_text())
    assert metrics["params"]["half_life_days"] == 10.0
    assert "evaluation" not in metrics
    assert not (opt_ml / "output" / "failure").exists()


def test_train_writes_the_drift_baseline_into_the_model_artefact(workdir, opt_ml):
    from model.training.drift_baseline import BASELINE_FILE, read_baseline

    result = run_train(workdir, opt_ml, {"factors": "4", "iterations": "3", "no_evaluate": "true"})
    assert result.returncode == 0, result.stderr
    baseline = read_baseline(opt_ml / "model" / BASELINE_FILE)
    model = json.loads((opt_ml / "model" / "model.json").read_text())
    assert baseline["model_version"] == model["model_version"]
    assert len(baseline["items"]) == model["num_items"]


def test_train_without_hyperparameters_uses_the_defaults(workdir, opt_ml):
    result = run_train(workdir, opt_ml)
    assert result.returncode == 0, result.stderr
    assert "evaluation" in json.loads((opt_ml / "model" / "metrics.json").read_text())


@pytest.mark.parametrize(
    ("hyperparameters", "reason"),
    [
        ({"factors": "many"}, "--factors"),
        ({"factors": "0"}, "factors and iterations must be >= 1"),
        ({"learning_rate": "0.1"}, "--learning-rate"),
        ("{not json", "hyperparameters.json is not valid JSON"),
    ],
)
def test_bad_hyperparameters_write_the_failure_file_and_exit_non_zero(
    workdir, opt_ml, hyperparameters, reason
):
    result = run_train(workdir, opt_ml, hyperparameters)
    assert result.returncode != 0
    assert reason in (opt_ml / "output" / "failure").read_text()
    assert not (opt_ml / "model" / "model.json").exists()


def test_bad_training_data_writes_the_failure_file_and_exits_non_zero(workdir, opt_ml):
    (opt_ml / "input" / "data" / "train" / "interactions-401-402.jsonl").write_text("not json\n")
    result = run_train(workdir, opt_ml, {"factors": "4"})
    assert result.returncode != 0
    failure = (opt_ml / "output" / "failure").read_text()
    assert "interactions-401-402.jsonl:1" in failure
    assert "not JSON" in failure


def test_missing_channel_writes_the_failure_file(workdir, tmp_path):
    result = run_train(workdir, tmp_path)
    assert result.returncode != 0
    assert "no such file or folder" in (tmp_path / "output" / "failure").read_text()


@pytest.mark.parametrize(
    ("hyperparameter", "reason"),
    [
        ("model_dir", "would set --model-dir"),
        ("train", "would set --train"),
        ("tra", "unrecognized arguments: --tra="),
        ("model_d", "unrecognized arguments: --model-d="),
    ],
)
def test_hyperparameters_that_reach_the_folders_fail_the_job_before_training(
    workdir, opt_ml, tmp_path_factory, hyperparameter, reason
):
    # A folder that holds training data too, so only the refusal can stop the job.
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shutil.copytree(opt_ml / "input" / "data" / "train", elsewhere, dirs_exist_ok=True)
    result = run_train(
        workdir, opt_ml, {hyperparameter: str(elsewhere), "factors": "4", "no_evaluate": "true"}
    )
    assert result.returncode != 0
    assert reason in (opt_ml / "output" / "failure").read_text()
    assert not (elsewhere / "model.json").exists()
    assert not (opt_ml / "model" / "model.json").exists()


def test_hyperparameters_become_train_options():
    assert container.hyperparameter_arguments(
        {
            "half_life_days": "7.5",
            "no_evaluate": "true",
            "dry_run": "false",
            "sagemaker_region": "eu-west-1",
            "factors": 8,
            "model": "--train=/elsewhere",
        }
    ) == [
        "--factors=8",
        "--half-life-days=7.5",
        "--model=--train=/elsewhere",  # one token: a value, never an option
        "--no-evaluate",
    ]


def test_the_refused_folder_options_are_all_of_train_pys_path_options():
    path_options = {
        option
        for action in train.build_parser()._actions
        if action.type is Path
        for option in action.option_strings
    }
    assert path_options == set(hyperparameters.PATH_OPTIONS)


def test_train_py_takes_no_abbreviated_option(capsys):
    with pytest.raises(SystemExit):
        train.build_parser().parse_args(["--tra", "/elsewhere"])
    assert "unrecognized arguments: --tra" in capsys.readouterr().err


def test_unknown_command_prints_usage(capsys):
    assert container.main(["predict"], environ={}) == 2
    assert "serve,train" in capsys.readouterr().err
