"""The framework archive under the documented image's Python, numpy and scipy, and its toolkit.

docs/deploy.md names `sagemaker-scikit-learn:1.2-1-cpu-py3`. What that image holds comes from
AWS's source for it, github.com/aws/sagemaker-scikit-learn-container, branch 1.2-1:
docker/1.2-1/base/Dockerfile.cpu installs Python 3.9 (PYTHON_VERSION=3.9) and requirements.txt,
installed last by docker/1.2-1/final/Dockerfile.cpu, pins the versions in IMAGE below.

One virtualenv for the module, from pyenv's Python 3.9: the image's numpy and scipy first, then
the archive's code/requirements.txt as the container installs it, then (for the last tests) the
image's serving packages.
"""

import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from model.aws import framework_archive as package
from model.data.synthetic import taste_interactions
from model.training.als import TrainingParams, fit
from tests.support.services import in_ci

# The pip installs into the 3.9 virtualenv build sdists; pip itself may take up to 900 s on a loaded
# machine (a CI run timed out at the default 300 s in the toolkit's install).
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

IMAGE_PYTHON = "3.9"
IMAGE_NUMPY = "numpy==1.24.1"
IMAGE_SCIPY = "scipy==1.8.0"
# The image's pins for what its two servers import (requirements.txt of branch 1.2-1). setuptools
# is unpinned there; the image, built before setuptools 81, has pkg_resources, which
# sagemaker-containers imports.
IMAGE_SERVING = [
    IMAGE_NUMPY,
    IMAGE_SCIPY,
    "boto3==1.28.57",
    "botocore>=1.31.57,<1.32.0",
    "Flask==1.1.1",
    "itsdangerous==2.0.1",
    "jinja2==3.0.3",
    "MarkupSafe==2.1.1",
    "Werkzeug==2.0.3",
    "protobuf==3.20.2",
    "retrying==1.3.3",
    "six==1.15.0",
    "urllib3==1.26.17",
    "python-dateutil==2.8.1",
    "inotify_simple==1.2.1",
    "setuptools<81",
    "sagemaker-containers==2.8.6.post2",
    "sagemaker-inference==1.2.0",
    "multi-model-server==1.1.1",
]
SERVING_SCRIPT = Path(__file__).resolve().parents[1] / "support" / "framework_serving.py"
PIP_QUIET = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_WARN_SCRIPT_LOCATION": "1"}


def image_python() -> Path:
    """pyenv's newest installed Python of the image's minor version; skip (fail under CI) if none."""
    try:
        root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        root = os.environ.get("PYENV_ROOT", "")
        if not root:
            _missing(f"pyenv is not available ({exc})")
    candidates = sorted(
        Path(root, "versions").glob(f"{IMAGE_PYTHON}.*/bin/python"),
        key=lambda path: tuple(int(part) for part in path.parent.parent.name.split(".")),
    )
    if not candidates:
        _missing(f"no Python {IMAGE_PYTHON}.x under {root}/versions; pyenv install {IMAGE_PYTHON}")
    return candidates[-1]


def _missing(message: str) -> None:
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def pip(venv: Path, *arguments: str) -> str:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", *arguments],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **PIP_QUIET},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def installed(venv: Path, distribution: str) -> str:
    return subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            f"import importlib.metadata as m; print(m.version({distribution!r}))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def serve(venv: Path, mode: str, root: Path, *arguments: str) -> dict:
    """tests/support/framework_serving.py in the venv, isolated (-I) from this repository."""
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-I", str(SERVING_SCRIPT), mode, str(root), *arguments],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("model")
    model = fit(
        taste_interactions(num_users=30, num_items=12, num_categories=2, seed=5),
        TrainingParams(factors=4, iterations=3),
    )
    model.save(model_dir)
    return model_dir, model


@pytest.fixture(scope="module")
def image(tmp_path_factory, fitted):
    """(venv, unpacked archive, pip's output for code/requirements.txt): the container at start."""
    python = image_python()
    started = time.monotonic()
    base = tmp_path_factory.mktemp("framework-image")
    # The archive goes where the container puts it, /opt/ml/model: <base>/opt-ml/model.
    root = base / "opt-ml" / "model"
    root.mkdir(parents=True)
    with tarfile.open(package.build_archive(fitted[0], base / "model.tar.gz")) as archive:
        archive.extractall(root, filter="data")
    venv = base / "venv"
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True, timeout=300)
    pip(venv, IMAGE_NUMPY, IMAGE_SCIPY)
    requirements_output = pip(venv, "-r", str(root / "code" / "requirements.txt"))
    print(f"image venv ready in {time.monotonic() - started:.0f} s")
    return venv, root, requirements_output


@pytest.fixture(scope="module")
def image_with_toolkit(image):
    """The same venv with the image's serving packages at the image's versions."""
    venv, root, _ = image
    constraints = root.parent.parent / "image-constraints.txt"
    constraints.write_text("\n".join(IMAGE_SERVING) + "\n")
    started = time.monotonic()
    pip(venv, "-c", str(constraints), "sagemaker-containers", "sagemaker-inference", "setuptools")
    # Only its request context is used (mms.context); its own dependencies start the Java server.
    pip(venv, "--no-deps", "-c", str(constraints), "multi-model-server")
    print(f"toolkit installed in {time.monotonic() - started:.0f} s")
    return venv, root


def test_archive_requirements_leave_the_images_numpy_and_scipy_alone(image):
    venv, root, output = image
    lines = [
        line
        for line in (root / "code" / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert not [line for line in lines if line.lower().startswith(("numpy", "scipy"))]
    assert f"numpy-{IMAGE_NUMPY.split('==')[1]}" not in output  # nothing uninstalled or replaced
    assert installed(venv, "numpy") == IMAGE_NUMPY.split("==")[1]
    assert installed(venv, "scipy") == IMAGE_SCIPY.split("==")[1]


def test_archive_answers_under_the_images_python_numpy_and_scipy(image, fitted):
    venv, root, _ = image
    _, model = fitted
    user_id = model.user_ids.tolist()[2]
    answer = serve(venv, "answer", root, json.dumps({"user_id": user_id, "num_results": 3}))
    assert answer["python"][:2] == [int(part) for part in IMAGE_PYTHON.split(".")]
    assert (answer["numpy"], answer["scipy"]) == ("1.24.1", "1.8.0")
    assert answer["handler"] == str(root / "code" / "inference.py")
    assert answer["bundled"].startswith(str(root / "code"))
    # The containers refuse a module with transform_fn next to input_fn, predict_fn or output_fn.
    assert answer["functions"] == ["model_fn", "transform_fn"]
    assert answer["content_type"] == "application/json"
    assert answer["body"]["model_version"] == model.model_version
    assert [r["item_id"] for r in answer["body"]["recommendations"]] == [
        item_id for item_id, _ in model.recommend(user_id, 3).items
    ]


def test_without_the_toolkit_bad_input_raises_our_own_error(image):
    venv, root, _ = image
    refused = serve(venv, "answer", root, json.dumps({"user_id": "u"}))["malformed"]
    assert refused["status"] == 400
    assert refused["mro"][:3] == [
        "model.inference.protocol.MalformedRequest",
        "model.inference.protocol.InferenceError",
        "builtins.Exception",
    ]


def test_one_model_server_answers_bad_input_with_4xx(image_with_toolkit):
    venv, root = image_with_toolkit
    answers = serve(venv, "flask", root)
    assert answers["ok"]["status"] == 200
    assert json.loads(answers["ok"]["body"])["recommendations"]
    assert {name: answers[name]["status"] for name in ("malformed", "not_json", "accept_csv")} == {
        "malformed": 400,
        "not_json": 415,
        "accept_csv": 406,
    }
    assert json.loads(answers["malformed"]["body"]) == {
        "error": "BadRequest",
        "message": "user_id must be a non-empty string",
    }


def test_multi_model_server_answers_bad_input_with_4xx_through_the_toolkits_error(
    image_with_toolkit,
):
    venv, root = image_with_toolkit
    answers = serve(venv, "mms", root)
    assert answers["ok"]["status"] == 200
    assert answers["malformed"] == {
        "status": 400,
        "phrase": "Bad Request",
        "body": "user_id must be a non-empty string",
    }
    refused = serve(venv, "answer", root, json.dumps({"user_id": "u"}))["malformed"]
    assert "sagemaker_inference.errors.BaseInferenceToolkitError" in refused["mro"]
    assert "model.inference.protocol.MalformedRequest" in refused["mro"]
