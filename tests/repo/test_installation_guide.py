"""docs/installation.md's code is complete: its celery.py, __init__.py and wsgi.py run as a new
project's files, its Celery settings are Celery's, and its beat schedule has every periodic task;
docs/first-model.md starts the model server with docs/model-server.md's whole command.

The beat schedule also passes the app's checks (tests/demo/test_demo_wiring.py).
"""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from celery import Task
from celery.app.defaults import find

import recommendations.tasks

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "installation.md"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
# Enqueued by the app itself (a pass's batches, a login, a web process's events): never scheduled.
ENQUEUED_BY_THE_APP = {"prefetch_users", "prefetch_user", "record_events"}


def block(containing: str) -> str:
    """The guide's one Python block that holds `containing`."""
    (found,) = [text for text in PYTHON_BLOCK.findall(GUIDE.read_text()) if containing in text]
    return found


def run_in_new_project(tmp_path: Path, files: dict[str, str], code: str) -> str:
    """Run `code` beside a package `shop` made of `files`, on the test settings, in a new process."""
    package = tmp_path / "shop"
    package.mkdir()
    (package / "settings.py").write_text("from tests.settings import *  # noqa: F403\n")
    for name, text in files.items():
        (package / name).write_text(text)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop.settings"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_schedule_has_every_periodic_task_of_the_app() -> None:
    names: dict = {}
    exec(block("CELERY_BEAT_SCHEDULE = {"), names)  # noqa: S102 - the guide's own code
    scheduled = {entry["task"] for entry in names["CELERY_BEAT_SCHEDULE"].values()}
    tasks = {
        task.name
        for task in vars(recommendations.tasks).values()
        if isinstance(task, Task) and task.name.startswith("recommendations.tasks.")
    }
    periodic = {name for name in tasks if name.rsplit(".", 1)[1] not in ENQUEUED_BY_THE_APP}
    assert periodic == scheduled
    assert {"recommendations.tasks.roll_up_tracking", "recommendations.tasks.purge_tracking"} <= (
        scheduled
    )


def test_the_celery_settings_are_celerys() -> None:
    settings = block("CELERY_BROKER_URL")
    names = [
        target.id
        for node in ast.parse(settings).body
        if isinstance(node, ast.Assign)
        for target in node.targets
    ]
    assert "CELERY_BROKER_URL" in names
    for name in names:
        assert name.startswith("CELERY_")
        assert find(name.removeprefix("CELERY_").lower()) is not None, name


def test_the_celery_app_loads_the_apps_tasks_and_the_settings(tmp_path: Path) -> None:
    out = run_in_new_project(
        tmp_path,
        {"celery.py": block("app = Celery("), "__init__.py": block("celery_app")},
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from shop import celery_app\n"
        "celery_app.loader.import_default_modules()\n"
        "print(celery_app.main, 'recommendations.tasks.export_interactions' in celery_app.tasks,"
        " celery_app.conf.broker_url == settings.CELERY_BROKER_URL)\n",
    )
    assert out.split() == ["shop", "True", "True"]


def test_the_wsgi_module_builds_the_application_and_freezes_the_heap(tmp_path: Path) -> None:
    out = run_in_new_project(
        tmp_path,
        {"__init__.py": "", "wsgi.py": block("get_wsgi_application()")},
        "import gc\n"
        "from shop.wsgi import application\n"
        "print(type(application).__name__, gc.get_freeze_count() > 0)\n",
    )
    assert out.split() == ["WSGIHandler", "True"]


def serve_command(page: str) -> str:
    """The page's `python -m model.serve` command, with its continuation lines."""
    text = (ROOT / "docs" / page).read_text()
    (command,) = re.findall(r"^\S*bin/python -m model\.serve(?:.*\\\n)*.*$", text, re.MULTILINE)
    return command


def test_the_first_model_page_starts_the_server_with_its_pages_whole_command() -> None:
    assert serve_command("first-model.md") == serve_command("model-server.md")
    for option in ("--model-dir", "--endpoint-name", "--region", "--access-key", "--port"):
        assert option in serve_command("model-server.md")
