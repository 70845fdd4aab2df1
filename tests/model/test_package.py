"""model.package: the framework container's model.tar.gz, loaded the way SageMaker loads it."""

import ast
import json
import subprocess
import sys
import tarfile
import textwrap

import pytest

from model.aws import framework_archive as package
from model.aws import imports
from model.data.synthetic import taste_interactions
from model.training.als import TrainingParams, fit
from tests.support.model_server import REPO_ROOT

# Run in a fresh interpreter: -I leaves out the working directory, PYTHONPATH and user site, so
# only the unpacked archive's code/ (added below, as the framework container does) and the
# installed third-party packages (its requirements.txt) are importable, never this repository.
LOAD_AND_ANSWER = textwrap.dedent(
    """
    import importlib, json, sys
    root = sys.argv[1]
    sys.path.insert(0, root + "/code")
    handler = importlib.import_module("inference")
    bundled = importlib.import_module("model")
    assert bundled.__file__.startswith(root), bundled.__file__
    model = handler.model_fn(root)
    body, _ = handler.transform_fn(model, sys.argv[2].encode(), "application/json", "application/json")
    print(json.dumps({"body": json.loads(body), "handler": handler.__file__}))
    """
)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("model")
    model = fit(
        taste_interactions(num_users=30, num_items=12, num_categories=2, seed=5),
        TrainingParams(factors=4, iterations=3),
    )
    model.save(model_dir)
    return model_dir, model


def test_archive_has_the_model_at_the_root_and_the_handler_code(tmp_path, fitted):
    model_dir, _ = fitted
    out = package.build_archive(model_dir, tmp_path / "model.tar.gz")
    with tarfile.open(out) as archive:
        names = set(archive.getnames())
        requirements = archive.extractfile("code/requirements.txt").read().decode()
    assert {path.name for path in model_dir.iterdir()} <= names
    assert {
        "code/inference.py",
        "code/requirements.txt",
        "code/model/inference/handlers.py",
    } <= names
    # The whole of model/inference/, copied as a folder rather than listed by hand.
    assert {"code/model/inference/protocol.py", "code/model/inference/recommender.py"} <= names
    # Training-only modules stay out of the serving archive.
    assert "code/model/training/als.py" not in names
    assert "code/model/serve.py" not in names
    # The framework image's own numpy and scipy are never asked for (see model/package.py).
    assert not [line for line in requirements.splitlines() if line.startswith(("numpy", "scipy"))]


def test_fresh_interpreter_answers_from_the_unpacked_archive_only(tmp_path, fitted):
    model_dir, model = fitted
    out = package.build_archive(model_dir, tmp_path / "model.tar.gz")
    unpacked = tmp_path / "opt-ml-model"
    with tarfile.open(out) as archive:
        archive.extractall(unpacked, filter="data")
    user_id = model.user_ids.tolist()[2]
    request = json.dumps({"user_id": user_id, "num_results": 3})
    result = subprocess.run(
        [sys.executable, "-I", "-c", LOAD_AND_ANSWER, str(unpacked), request],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["handler"] == str(unpacked / "code" / "inference.py")
    expected = model.recommend(user_id, 3)
    assert answer["body"]["model_version"] == model.model_version
    assert [r["item_id"] for r in answer["body"]["recommendations"]] == [
        item_id for item_id, _ in expected.items
    ]


def test_the_repository_is_not_importable_in_the_fresh_interpreter(tmp_path):
    result = subprocess.run(
        [sys.executable, "-I", "-c", "import model"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr


def test_command_line_writes_the_archive(tmp_path, fitted, capsys):
    model_dir, _ = fitted
    out = tmp_path / "dist" / "model.tar.gz"
    assert package.main(["--model-dir", str(model_dir), "--out", str(out)]) == 0
    assert tarfile.is_tarfile(out)
    assert "code/inference.py" in capsys.readouterr().out


def test_empty_model_folder_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert package.main(["--model-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "x")]) == 2
    assert "no model files" in capsys.readouterr().err


def test_import_closure_follows_modules_a_new_format_adds(tmp_path, monkeypatch):
    # A stand-in package tree: the handler imports a module that imports another, as a new
    # model type (say, a second algorithm beside ALS) would. (tests/model/test_container.py checks the
    # image's requirements with this closure.)
    root = tmp_path / "model"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "inference.py").write_text("from .recommender import load\n")
    (root / "recommender.py").write_text("from . import ease\nimport numpy\n")
    (root / "ease.py").write_text("from .kernels import solve\nimport scipy.sparse\n")
    (root / "kernels.py").write_text("import json\n")
    (root / "training_only.py").write_text("import implicit\n")
    monkeypatch.setattr(imports, "PACKAGE_DIR", root)
    files, external = imports.import_closure("inference")
    assert [path.name for path in files] == [
        "__init__.py",
        "ease.py",
        "inference.py",
        "kernels.py",
        "recommender.py",
    ]
    assert {"numpy", "scipy", "json"} <= external
    assert "implicit" not in external


def test_imports_guarded_by_import_error_are_not_requirements(tmp_path, monkeypatch):
    root = tmp_path / "model"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "inference.py").write_text(
        "import numpy\ntry:\n    from sagemaker_inference import errors\nexcept ImportError:\n"
        "    errors = None\n"
    )
    monkeypatch.setattr(imports, "PACKAGE_DIR", root)
    _, external = imports.import_closure("inference")
    assert "numpy" in external
    assert "sagemaker_inference" not in external


def test_an_inference_module_importing_the_rest_of_model_is_refused(tmp_path, monkeypatch):
    # A stand-in tree whose handler reaches into training: the archive would not carry it.
    root = tmp_path / "model"
    (root / "inference").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "inference" / "__init__.py").write_text("")
    (root / "inference" / "handlers.py").write_text("from ..training.als import fit\n")
    monkeypatch.setattr(imports, "PACKAGE_DIR", root)
    monkeypatch.setattr(package, "INFERENCE_DIR", root / "inference")
    with pytest.raises(package.PackagingError, match=r"model\.training"):
        package.outside_imports(package.code_files())


def test_packaged_modules_compile_and_defer_annotations_for_the_images_python():
    # The slow proof is tests/model/test_package_on_framework_image.py; this catches the usual slip (an
    # annotation such as `str | None` evaluated at import on Python 3.9) in milliseconds.
    for path in package.code_files():
        source = path.read_text()
        if source.strip():
            assert "from __future__ import annotations" in source, path.name
        ast.parse(source, str(path), feature_version=(3, 9))  # `match` and the like are refused
