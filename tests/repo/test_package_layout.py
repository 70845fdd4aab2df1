"""The package's shape: every module imports, code beside the app uses paths that exist, contracts hold."""

import ast
import importlib
import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_answer_types_are_the_same_from_the_service_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from recommendations.service import Recommendations, RecommendedItem
        from recommendations.serving import answers

    assert Recommendations is answers.Recommendations
    assert RecommendedItem is answers.RecommendedItem


def test_an_answer_starts_in_the_model_arm():
    from recommendations.serving.answers import Recommendations
    from recommendations.tracking import arms

    answer = Recommendations(items=[], source="model", model_version=None, request_id="r")

    assert answer.arm == arms.MODEL


def test_the_refresh_queue_enqueues_a_task_that_exists_under_that_name():
    from demo_shop.celery import app
    from recommendations import tasks
    from recommendations.prefetch.refresh_queue import PREFETCH_USER_TASK

    assert tasks.prefetch_user.name == PREFETCH_USER_TASK
    assert app.tasks[PREFETCH_USER_TASK].name == PREFETCH_USER_TASK


IMPORT_EVERYTHING = """
import importlib, pkgutil
import django
django.setup()
import recommendations
for module in pkgutil.walk_packages(recommendations.__path__, "recommendations."):
    # The Oscar integration needs an Oscar project: tests/oscar imports every module of it.
    if not module.name.startswith("recommendations.contrib.oscar"):
        importlib.import_module(module.name)
from django.core.management import call_command
call_command("check", verbosity=0)
print("imported")
"""


def test_every_module_of_the_app_imports_and_the_checks_pass():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


def test_the_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"

    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# Code beside the app that must use the current paths too. The bench scripts are not imported by
# any test, so a moved or removed module would otherwise surface only when someone runs a bench.
SCRIPT_FOLDERS = ("bench", "demo_shop", "model", "tests")


def imports_of_the_app(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, imported name or None) of each absolute import of `recommendations`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "recommendations":
                found.extend((node.lineno, node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(
                (node.lineno, alias.name, None)
                for alias in node.names
                if alias.name.split(".")[0] == "recommendations"
            )
    return found


def is_missing(module: str, name: str | None) -> bool:
    """Whether `from module import name` names something `module` does not hold."""
    try:
        loaded = importlib.import_module(module)
    except ImportError as error:
        if not isinstance(error.__cause__, ModuleNotFoundError):
            raise
        # An optional part whose extra is not installed here (the Oscar integration without
        # django-oscar): read its source instead.
        return is_missing_from_source(module, name)
    if name is None:
        return False
    if hasattr(loaded, "__path__") and importlib.util.find_spec(f"{module}.{name}"):
        return False  # a submodule of a package
    return name not in vars(loaded)


def is_missing_from_source(module: str, name: str | None) -> bool:
    """`is_missing` from the module's file: a submodule, or a name its top level binds."""
    base = REPO_ROOT / module.replace(".", "/")
    source = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    if not source.is_file():
        raise ImportError(f"No module named {module!r}")
    if name is None or (base / f"{name}.py").is_file() or (base / name).is_dir():
        return False
    bound = set()
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Assign):
            bound.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return name not in bound


def test_scripts_beside_the_app_import_it_by_current_paths_only():
    stale = []
    for folder in SCRIPT_FOLDERS:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            for line, module, name in imports_of_the_app(path):
                try:
                    missing = is_missing(module, name)
                except ImportError as error:
                    stale.append(f"{path.relative_to(REPO_ROOT)}:{line}: {error}")
                    continue
                if missing:
                    stale.append(f"{path.relative_to(REPO_ROOT)}:{line}: {module} has no {name}")
    assert stale == []
