"""The distribution installs: sdist and wheel build, pass `twine check`, and the wheel works in a
fresh virtualenv with the newest supported Django, in a project made by `startproject`."""

import glob
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import in_ci

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = Path(__file__).resolve().parent / "wheel_project"
NEWEST_DJANGO = "6.1"
PYTHONS_FOR_NEWEST_DJANGO = ("3.13", "3.12")  # Django 6.1 needs Python 3.12 or newer

pytestmark = pytest.mark.packaging


def run(
    *command: str | Path, cwd: Path | None = None, env: dict | None = None, stderr: bool = False
) -> str:
    """The command's output (with what it wrote to stderr after it when `stderr`); it must succeed."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr if stderr else result.stdout


def python_for_newest_django() -> str:
    """A Python that Django 6.1 supports: from PATH, else pyenv's versions (never downloaded)."""
    candidates = [shutil.which(f"python{version}") for version in PYTHONS_FOR_NEWEST_DJANGO]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for version in PYTHONS_FOR_NEWEST_DJANGO:
        candidates += sorted(
            glob.glob(str(pyenv_root / f"versions/{version}.*/bin/python{version}"))
        )
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    message = f"no Python {' or '.join(PYTHONS_FOR_NEWEST_DJANGO)} for Django {NEWEST_DJANGO}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # Without --sdist/--wheel, build makes the sdist and then the wheel from it, as pip does from
    # PyPI's sdist: a file the sdist lacks fails here, and nothing is built in the source tree.
    run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return out


def test_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    output = run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
    assert output.count("PASSED") == 2


def test_wheel_holds_the_app_and_its_templates_only(dist: Path) -> None:
    import zipfile

    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "recommendations/templates/recommendations/widget.html" in names
    assert "recommendations/migrations/0001_initial.py" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert not [name for name in names if name.split("/")[0] in {"tests", "demo_shop", "model"}]


def test_wheel_installs_and_renders_the_widget_in_a_new_project(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    python = python_for_newest_django()
    venv = tmp_path / "venv"
    uv = Path(sys.executable).with_name("uv")
    run(uv, "venv", "--quiet", "--python", python, venv)
    run(
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        venv / "bin/python",
        # With the default backend's SDK, as a shop installs it (the [sagemaker] extra).
        f"django-hybrid-recommendations[sagemaker] @ {wheel.as_uri()}",
        f"Django=={NEWEST_DJANGO}.*",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = ""  # the repository must not be importable: only the wheel is
    env["RECOMMENDATIONS_PSEUDONYM_KEY"] = secrets.token_urlsafe(32)

    project = tmp_path / "shop"
    project.mkdir()
    run(venv / "bin/django-admin", "startproject", "shop", project, env=env)
    run(venv / "bin/python", "manage.py", "startapp", "catalog", cwd=project, env=env)
    shutil.copy(PROJECT_FILES / "catalog_models.py", project / "catalog/models.py")
    shutil.copy(PROJECT_FILES / "urls.py", project / "shop/urls.py")
    (project / "templates").mkdir()
    shutil.copy(PROJECT_FILES / "home.html", project / "templates/home.html")
    settings = project / "shop/settings.py"
    settings.write_text(settings.read_text() + (PROJECT_FILES / "settings_tail.txt").read_text())

    manage = [venv / "bin/python", "manage.py"]
    version = run(*manage, "version", cwd=project, env=env).strip()
    assert version.startswith(NEWEST_DJANGO)
    run(*manage, "makemigrations", "catalog", cwd=project, env=env)
    run(*manage, "migrate", "--noinput", cwd=project, env=env)
    # The project keeps the default catalog adapter: `check` names each feature it leaves off
    # (W005), and the names the default describe() misses on a product with no price or image
    # (W006). Those five warnings and nothing else: no error (check exits 0), no other warning.
    checked = run(*manage, "check", cwd=project, env=env, stderr=True)
    print(checked)  # the listing, with -s
    assert re.findall(r"^\S+: \((recommendations\.W\d+)\) ", checked, re.M) == [
        "recommendations.W006",
        *["recommendations.W005"] * 4,
    ]
    assert "System check identified 5 issues (0 silenced)." in checked
    adapter = "recommendations.catalog.CatalogAdapter: (recommendations.W005)"
    for method, off in [
        ("purchased_item_ids", "Exclusions are off"),
        ("active_user_id_page", "Prefetching is off"),
        ("interaction_chunks_after", "The export is off"),
        ("interaction_chunks", "The fallback ranking is off"),
    ]:
        assert f"{adapter} {off}: the catalog adapter has no {method}(), so " in checked
    assert "finds no price or get_image_url on catalog.Product" in checked
    # A shop that leaves them off on purpose silences the two ids (docs/catalog-adapter.md), and
    # then nothing is left at the WARNING level.
    with settings.open("a") as settings_file:
        settings_file.write(
            'SILENCED_SYSTEM_CHECKS = ["recommendations.W005", "recommendations.W006"]\n'
        )
    checked = run(*manage, "check", "--fail-level", "WARNING", cwd=project, env=env)
    assert "System check identified no issues (5 silenced)." in checked
    where = run(
        venv / "bin/python",
        "-c",
        "import recommendations; print(recommendations.__file__)",
        cwd=tmp_path,
        env=env,
    )
    assert str(venv) in where  # the installed wheel, not the repository

    rendered = run(
        *manage, "shell", "-c", (PROJECT_FILES / "render_home.py").read_text(), cwd=project, env=env
    )
    assert "status 200" in rendered
    assert "source fallback" in rendered
    # The newest available products fill the widget for a new customer; the inactive one never shows.
    assert "products ['Product 1', 'Product 2', 'Product 3', 'Product 4']" in rendered
