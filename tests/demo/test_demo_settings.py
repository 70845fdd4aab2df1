"""The demo refuses to run insecurely, and `manage.py check --deploy` on the production settings
documented in docs/security.md leaves exactly the warnings that page explains.

Each case starts the demo's real settings module in a subprocess with only the environment given
(the settings are read once per process, from the environment).
"""

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.model_server import REPO_ROOT

SECURITY_DOC = REPO_ROOT / "docs" / "security.md"
DEMO_SECRET_KEY = "demo-shop-insecure-key-change-me"  # published in .env.example
# Variables of this process that would change what the demo's settings read.
NOT_INHERITED = ("DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "PYTHONPATH")


def manage(*args: str, cwd: Path = REPO_ROOT, **environment: str) -> subprocess.CompletedProcess:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in NOT_INHERITED and not name.startswith(("SECURE_", "RECOMMENDATIONS_"))
    }
    env.update({"DJANGO_SETTINGS_MODULE": "demo_shop.settings", **environment})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


STRONG = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "shop.example.com",
    "RECOMMENDATIONS_PSEUDONYM_KEY": secrets.token_urlsafe(48),
}


@pytest.mark.parametrize(
    ("environment", "said"),
    [
        ({**STRONG, "SECRET_KEY": DEMO_SECRET_KEY}, "SECRET_KEY is the demo's published key"),
        ({key: value for key, value in STRONG.items() if key != "SECRET_KEY"}, "SECRET_KEY"),
        ({**STRONG, "SECRET_KEY": "django-insecure-" + "x1y2z3" * 9}, "SECRET_KEY"),
        ({**STRONG, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is empty"),
        ({key: value for key, value in STRONG.items() if key != "ALLOWED_HOSTS"}, "ALLOWED_HOSTS"),
    ],
)
def test_with_debug_off_an_insecure_setting_stops_start_up_with_a_clear_message(environment, said):
    result = manage("check", DEBUG="false", **environment)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: ")
    assert said in last_line
    assert "DEBUG" in last_line


def test_with_debug_off_and_its_own_secrets_the_demo_starts():
    result = manage("check", DEBUG="false", **STRONG)
    assert result.returncode == 0, result.stderr


def test_with_debug_on_the_published_key_still_runs_the_demo():
    result = manage("check", DEBUG="true", SECRET_KEY=DEMO_SECRET_KEY)
    assert result.returncode == 0, result.stderr


def test_without_dot_env_the_demo_checks_clean_on_its_defaults(tmp_path):
    # The demo project copied beside no .env (a checkout's own .env would fill in the defaults);
    # the app comes from the repository. The defaults are .env.example's, which `make demo` copies.
    shutil.copytree(
        REPO_ROOT / "demo_shop",
        tmp_path / "demo_shop",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(REPO_ROOT / "manage.py", tmp_path)
    result = manage("check", cwd=tmp_path, PYTHONPATH=str(REPO_ROOT))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stderr


def documented_production_environment() -> dict[str, str]:
    """The `env` block of docs/security.md's production settings; `<random>`: a fresh secret."""
    text = SECURITY_DOC.read_text(encoding="utf-8")
    block = re.search(r"```ini\n(.*?)```", text, re.S)
    assert block, "docs/security.md has no ```ini block of production settings"
    environment = {}
    for line in block.group(1).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            environment[name.strip()] = (
                secrets.token_urlsafe(50) if value.strip() == "<random>" else value.strip()
            )
    return environment


def documented_deploy_warnings() -> set[str]:
    """The ids docs/security.md explains as remaining warnings (its table's `security.W...` rows)."""
    section = SECURITY_DOC.read_text(encoding="utf-8").split("## check --deploy", 1)[1]
    section = section.split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_.]+\.W\d+)` \|", section, re.M))


def test_check_deploy_on_the_documented_production_settings_leaves_only_explained_warnings():
    environment = documented_production_environment()
    assert environment["DEBUG"] == "false"
    result = manage("check", "--deploy", **environment)
    assert result.returncode == 0, result.stderr
    reported = set(re.findall(r"^\?: \(([a-z_.]+\.[EW]\d+)\)", result.stderr, re.M))
    reported |= set(re.findall(r"^[^\s:]+: \(([a-z_.]+\.[EW]\d+)\)", result.stderr, re.M))
    assert reported == documented_deploy_warnings(), result.stderr
