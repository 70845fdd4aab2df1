"""The package's shape: old import paths warn and still work, the app never uses them, contracts hold."""

import ast
import importlib
import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# (old module, a name documented or used there, new module)
MOVED = [
    ("recommendations.codecs", "Codec", "recommendations.backends.codecs"),
    ("recommendations.codecs", "BUILTIN_CODECS", "recommendations.backends.codecs"),
    (
        "recommendations.product_snapshot",
        "catalog_changed",
        "recommendations.serving.product_snapshot",
    ),
    ("recommendations.fallback_compute", "compute_tables", "recommendations.fallback.compute"),
    ("recommendations.fallback_compute", "blend", "recommendations.fallback.compute"),
    ("recommendations.stats", "impressions_needed", "recommendations.reporting.stats"),
    ("recommendations.pseudonyms", "pseudonym", "recommendations.tracking.pseudonyms"),
    ("recommendations.prefetch", "prefetch_users", "recommendations.prefetch.users"),
]


@pytest.mark.parametrize(("old", "name", "new"), MOVED, ids=[f"{o}.{n}" for o, n, _ in MOVED])
def test_an_old_import_path_warns_and_gives_the_moved_object(old, name, new):
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} moved to {new}\.{name}; .* 0\.3"):
        value = getattr(importlib.import_module(old), name)

    assert value is getattr(importlib.import_module(new), name)


def test_from_import_of_an_old_path_warns_at_the_callers_line():
    with pytest.warns(DeprecationWarning) as caught:
        from recommendations.codecs import Codec  # noqa: F401 - the import is the test

    assert caught[0].filename == __file__


def test_an_old_path_still_knows_no_names_its_new_module_lacks():
    module = importlib.import_module("recommendations.exceptions")
    with pytest.raises(AttributeError, match="no attribute 'NoSuchError'"):
        module.NoSuchError  # noqa: B018 - the attribute access is the test


def test_a_submodule_import_from_a_package_with_old_names_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from recommendations.prefetch import model_versions, refresh_queue  # noqa: F401


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
import importlib, pkgutil, warnings
warnings.filterwarnings("error", message=r".* moved to recommendations\\.", category=DeprecationWarning)
import django
django.setup()
import recommendations
for module in pkgutil.walk_packages(recommendations.__path__, "recommendations."):
    importlib.import_module(module.name)
from django.core.management import call_command
call_command("check", verbosity=0)
print("imported")
"""


def test_the_app_itself_never_uses_an_old_import_path():
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
# This file uses the old paths on purpose (through importlib, which this check does not see).
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


def is_deprecated_path(module: str, name: str | None) -> bool:
    """Whether `from module import name` (or `import module`) goes through an old path."""
    loaded = importlib.import_module(module)
    forwarded = getattr(loaded, "__getattr__", None)
    moved_module = forwarded is not None and not hasattr(loaded, "__path__")
    if name is None:
        return moved_module
    if hasattr(loaded, "__path__") and importlib.util.find_spec(f"{module}.{name}"):
        return False  # a submodule of a package
    return moved_module or name not in vars(loaded)


def test_scripts_beside_the_app_import_it_by_current_paths_only():
    stale = []
    for folder in SCRIPT_FOLDERS:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            if path.resolve() == Path(__file__).resolve():
                continue
            for line, module, name in imports_of_the_app(path):
                try:
                    deprecated = is_deprecated_path(module, name)
                except ImportError as error:
                    stale.append(f"{path.relative_to(REPO_ROOT)}:{line}: {error}")
                    continue
                if deprecated:
                    what = f"from {module} import {name}" if name else f"import {module}"
                    stale.append(f"{path.relative_to(REPO_ROOT)}:{line}: {what} is an old path")
    assert stale == []
