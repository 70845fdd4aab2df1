"""boto3 and requests are extras (`[sagemaker]`, `[http]`): without them the app still imports and
serves, and the configured backend's missing SDK is an error naming the extra that installs it.

Each test runs a fresh interpreter in which importing the SDK fails, as it does where it is not
installed."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    for name in {blocked!r}:
        sys.modules[name] = None  # "import name" now raises ImportError, as if not installed
    import django
    django.setup()
    import importlib, pkgutil
    import recommendations
    from django.test.utils import override_settings
    # What a page and a worker import, whatever the backend:
    for name in ("recommendations.service", "recommendations.tasks", "recommendations.urls"):
        importlib.import_module(name)
    from recommendations.backends.base import get_backend
    from recommendations.checks import check_settings
    from recommendations.exceptions import EndpointMisconfigured

    with override_settings(RECOMMENDATIONS={{"BACKEND": {backend!r}, "HTTP_URL": "https://x/"}}):
        try:
            get_backend()
            error = None
        except EndpointMisconfigured as err:
            error = str(err)
        ids = [m.id for m in check_settings()]
        messages = [m.msg for m in check_settings() if m.id == "recommendations.E026"]
    print(json.dumps({{"error": error, "ids": ids, "messages": messages}}))
    """
)


def run(blocked: list[str], backend: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(blocked=blocked, backend=backend)],
        cwd=REPO,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("blocked", "backend", "extra"),
    [(["boto3", "botocore"], "sagemaker", "sagemaker"), (["requests"], "http", "http")],
)
def test_a_missing_sdk_names_the_extra(blocked, backend, extra):
    outcome = run(blocked, backend)
    wanted = f'pip install "django-hybrid-recommendations[{extra}]"'
    assert wanted in outcome["error"]
    assert f"The {backend} backend needs {blocked[0]}" in outcome["error"]
    assert "recommendations.E026" in outcome["ids"]
    assert any(wanted in message for message in outcome["messages"])


def test_the_other_backend_needs_nothing_of_the_missing_sdk():
    outcome = run(["requests"], "sagemaker")
    assert outcome["error"] is None
    assert "recommendations.E026" not in outcome["ids"]
