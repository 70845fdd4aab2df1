"""The real image: model/Dockerfile built with buildah, then `IMAGE train` and `IMAGE serve` run.

The file is built unchanged, as docs/container.md tells users to build it. Its base image
(`FROM python:X.Y-slim-RELEASE`) cannot be pulled here, so a stand-in of the same name is made
from Debian's packages (tests/support/buildah.py):

- Same: the Debian release the tag names, `mmdebstrap --variant=minbase` (what debian:RELEASE-slim
  is built from), the packages docker-library's Dockerfile adds (ca-certificates, netbase, tzdata),
  apt's sources (RELEASE, -updates, -security), `PATH` with /usr/local/bin first, `LANG=C.UTF-8`.
  Nothing else: no libgomp, no compiler, no BLAS.
- Different: Python is Debian's CPython X.Y (the real base builds CPython from source into
  /usr/local), and a venv at /usr/local gives `python` and `pip` on PATH, which Debian's
  externally-managed marker would otherwise refuse. Debian's python package brings the shared
  libraries Python's own modules link (libssl, libsqlite3, libffi...), which the real base keeps too.

The image's `RUN` steps see the host's CA bundle and pip configuration, read-only, because PyPI is
reached through a proxy with its own certificate. SageMaker runs `docker run IMAGE train` and
`docker run IMAGE serve`; here each is the image's ENTRYPOINT plus the word, in a fresh container
with a temporary /opt/ml mounted. chroot isolation shares the host's network, so the server binds
loopback (CONTAINER_BIND_HOST) on a free port (SAGEMAKER_BIND_TO_PORT).
"""

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from model.data.interactions import write_jsonl
from model.data.synthetic import taste_interactions
from tests.support.buildah import (
    Buildah,
    PythonSlim,
    missing_tools,
    python_slim_stand_in,
)
from tests.support.model_server import REPO_ROOT, free_port
from tests.support.services import in_ci

# The first test builds the base and the image; a cold machine under load needs more than 300 s.
pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]

DOCKERFILE = REPO_ROOT / "model" / "Dockerfile"
IMAGE = "localhost/recommender-image-test:latest"
START_TIMEOUT = 120.0
# What a RUN step needs from the host to reach PyPI and Debian through this machine's proxy.
HOST_MOUNTS = [
    path
    for path in (
        Path("/etc/ssl/certs/ca-certificates.crt"),
        Path("/etc/pip.conf"),
        Path("/etc/xdg/pip"),
    )
    if path.exists()
]
HYPERPARAMETERS = {"model": "als", "factors": "8", "iterations": "3"}  # ALS: implicit's extension


def base_image_name() -> str:
    """The image model/Dockerfile's FROM names."""
    return re.search(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)[1]


def test_dockerfile_base_names_its_debian_release():
    # `python:3.11-slim` moves to each new Debian stable release, and the system libraries under
    # the wheels with it; the stand-in below can only match a base that names its release.
    base = PythonSlim.parse(base_image_name())
    assert base.python == "3.11"


def test_dockerfile_imports_every_compiled_module_of_implicit_at_build_time():
    import implicit

    package = Path(implicit.__file__).parent
    modules = {
        ".".join(("implicit", *path.relative_to(package).parent.parts, path.name.split(".")[0]))
        for path in package.rglob("*.so")
        if "gpu" not in path.relative_to(package).parts
    }
    text = DOCKERFILE.read_text().replace("\\\n", "")
    checks = re.findall(r'^RUN python -c "import ([^"]+)"', text, flags=re.MULTILINE)
    imported = {name.strip() for check in checks for name in check.split(",")}
    assert modules, "implicit has no compiled modules?"
    assert modules <= imported, modules - imported
    assert re.search(r"apt-get install .*\blibgomp1\b", text)


@pytest.fixture(scope="module")
def buildah():
    missing = missing_tools()
    if missing:
        message = f"the image test needs {', '.join(missing)} (make image-deps)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    tool = Buildah()
    tool.root.mkdir(parents=True, exist_ok=True)
    return tool


@pytest.fixture(scope="module")
def image(buildah):
    """model/Dockerfile built on the stand-in base; removed afterwards, the base kept."""
    started = time.monotonic()
    python_slim_stand_in(buildah, PythonSlim.parse(base_image_name()))
    print(f"stand-in base ready in {time.monotonic() - started:.0f} s")
    mounts = [argument for path in HOST_MOUNTS for argument in ("--volume", f"{path}:{path}:ro")]
    started = time.monotonic()
    log = buildah(
        "bud",
        "--pull=never",
        "--file",
        DOCKERFILE,
        "--ignorefile",
        DOCKERFILE.with_name("Dockerfile.dockerignore"),
        "--tag",
        IMAGE,
        *mounts,
        REPO_ROOT,
        timeout=1200,
    )
    print("\n".join(line for line in log.splitlines() if line.startswith(("STEP", "COMMIT"))))
    print(f"image built in {time.monotonic() - started:.0f} s")
    yield IMAGE
    subprocess.run(buildah.command("rmi", "--force", IMAGE), env=buildah.environment)


def run_image(buildah, image, opt_ml, word, environment=(), **popen):
    """`docker run -v opt_ml:/opt/ml IMAGE word` as buildah: a fresh container, then its command."""
    container = buildah("from", "--pull=never", image)
    options = ["--network", "host", "--volume", f"{opt_ml}:/opt/ml"]
    for name, value in environment:
        options += ["--env", f"{name}={value}"]
    command = buildah.command("run", *options, container, "--", *buildah.entrypoint(image), word)
    return container, subprocess.Popen(command, env=buildah.environment, **popen)


@pytest.fixture(scope="module")
def trained(buildah, image, tmp_path_factory):
    """/opt/ml after `IMAGE train` on a synthetic channel with hyperparameters."""
    opt_ml = tmp_path_factory.mktemp("opt-ml")
    channel = opt_ml / "input" / "data" / "train"
    channel.mkdir(parents=True)
    data = taste_interactions(num_users=60, num_items=25, num_categories=3, seed=4)
    write_jsonl(channel / "interactions-1-600.jsonl", data)
    (opt_ml / "input" / "config").mkdir(parents=True)
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps(HYPERPARAMETERS))
    container, process = run_image(
        buildah, image, opt_ml, "train", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output, _ = process.communicate(timeout=600)
    finally:
        subprocess.run(buildah.command("rm", container), env=buildah.environment)
    print(f"IMAGE train exited {process.returncode}:\n{output[-1500:]}")
    return {"root": opt_ml, "status": process.returncode, "output": output}


def test_image_train_writes_the_model(trained):
    assert trained["status"] == 0, trained["output"][-3000:]
    model = trained["root"] / "model"
    assert sorted(path.name for path in model.iterdir()) == [
        "drift_baseline.json.gz",
        "metrics.json",
        "model.json",
        "model.npz",
    ]
    assert json.loads((model / "model.json").read_text())["kind"] == "als"
    assert (trained["root"] / "output" / "data" / "metrics.json").is_file()
    assert not (trained["root"] / "output" / "failure").exists()


def request(url, method="GET", body=None, content_type="application/json"):
    """(status, body) of one HTTP request, errors included."""
    headers = {"Content-Type": content_type} if body is not None else {}
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            status, answer = exc.code, exc.read()
    # In the log of `make test-image`: what the image answered.
    sent = f"{len(body)} bytes" if body is not None else "no body"
    print(f"{method} {urllib.parse.urlsplit(url).path} ({sent}) -> {status} {answer[:200]!r}")
    return status, answer


@pytest.fixture(scope="module")
def served(buildah, image, trained):
    """`IMAGE serve` on a free loopback port, the model `train` wrote in /opt/ml/model."""
    assert trained["status"] == 0, "IMAGE train failed; nothing to serve"
    port = free_port()
    log_path = trained["root"] / "serve.log"
    with log_path.open("wb") as log:
        container, process = run_image(
            buildah,
            image,
            trained["root"],
            "serve",
            environment=[("SAGEMAKER_BIND_TO_PORT", port), ("CONTAINER_BIND_HOST", "127.0.0.1")],
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
                time.sleep(0.2)
        yield {"url": url, "log": log_path}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        subprocess.run(buildah.command("rm", container), env=buildah.environment)
        print(f"IMAGE serve log:\n{log_path.read_text()[-1500:]}", file=sys.stderr)


def test_image_serve_answers_ping_with_the_trained_model(served, trained):
    status, body = request(served["url"] + "/ping")
    assert status == 200
    version = json.loads((trained["root"] / "model" / "model.json").read_text())["model_version"]
    assert json.loads(body) == {"status": "healthy", "model_version": version}


def test_image_serve_answers_invocations(served):
    status, body = request(
        served["url"] + "/invocations",
        "POST",
        json.dumps({"user_id": "u1", "num_results": 3}).encode(),
    )
    assert status == 200, body
    assert len(json.loads(body)["recommendations"]) == 3


def test_image_serve_answers_a_malformed_body_with_400(served):
    status, body = request(served["url"] + "/invocations", "POST", b"not json")
    assert status == 400
    assert json.loads(body)["error"] == "BadRequest"


def test_image_serve_answers_a_body_over_6_mb_with_413(served):
    status, body = request(served["url"] + "/invocations", "POST", b" " * (6 * 1024 * 1024 + 1))
    assert status == 413
    assert json.loads(body)["error"] == "PayloadTooLarge"
