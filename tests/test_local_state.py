"""The one mechanism for per-process state: a setting change and a fork drop what is registered."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.test import override_settings

from recommendations.backends import breaker as breakers
from recommendations.cache import local_state
from recommendations.conf import app_settings
from recommendations.prefetch import model_versions
from recommendations.serving import product_snapshot, rendering
from recommendations.tracking import clicks

REPO_ROOT = Path(__file__).resolve().parent.parent

# Every module that keeps state per process, under the name it registers.
EXPECTED = {
    "conf": ("drop",),
    "cache_outage": ("drop",),
    "near_cache": ("drop", "after_fork"),
    "breakers": ("drop",),
    "backends": ("after_fork",),
    "http_clients": ("after_fork",),
    "sagemaker_clients": ("after_fork",),
    "inline_calls": ("after_fork",),
    "rendering": ("drop",),
    "product_snapshot": ("drop",),
    "model_versions": ("drop",),
    "click_links": ("drop",),
    "event_buffer": ("after_fork",),
}


@pytest.fixture
def isolated_registry(monkeypatch):
    """The registry as it is, on a copy: what a test registers is gone after it."""
    monkeypatch.setattr(local_state, "_registrations", dict(local_state._registrations))


def _import_every_module() -> None:
    import importlib
    import pkgutil

    import recommendations

    for module in pkgutil.walk_packages(recommendations.__path__, "recommendations."):
        importlib.import_module(module.name)


def test_every_module_that_keeps_process_state_registers_once():
    _import_every_module()
    found = {
        registration.name: tuple(
            kind for kind in ("drop", "after_fork") if getattr(registration, kind) is not None
        )
        for registration in local_state.registrations()
    }
    assert found == EXPECTED


def test_a_setting_change_drops_only_the_states_that_derive_from_it(isolated_registry):
    dropped = []
    local_state.register("any", drop=lambda: dropped.append("any"))
    local_state.register("this", drop=lambda: dropped.append("this"), settings={"SOME_SETTING"})
    local_state.register("other", drop=lambda: dropped.append("other"), settings={"OTHER"})

    with override_settings(SOME_SETTING=1):
        assert dropped == ["any", "this"]
    assert dropped == ["any", "this", "any", "this"]  # and again when the override ends


def test_drop_all_drops_every_state_whatever_it_derives_from(isolated_registry):
    dropped = []
    local_state.register("this", drop=lambda: dropped.append("this"), settings={"SOME_SETTING"})
    local_state.register("fork-only", after_fork=lambda: dropped.append("fork-only"))

    local_state.drop_all()

    assert dropped == ["this"]


@pytest.mark.django_db
def test_changing_recommendations_drops_every_copy_the_app_keeps():
    # Fill what the process keeps: settings, a snapshot, a version seen, a breaker, a card and
    # the click link template.
    assert app_settings.BUDGET_MS
    product_snapshot.products(_NoProducts(), [], 1)
    model_versions.note_version("model-1", now=0.0)
    breakers.breaker_for()
    rendering._cards["probe"] = (float("inf"), "<li>")
    clicks._link_template("/")
    assert "BUDGET_MS" in app_settings.__dict__
    assert product_snapshot._snapshot is not None
    assert model_versions._local
    assert breakers._breakers

    with override_settings(RECOMMENDATIONS={"BUDGET_MS": 123}):
        assert "BUDGET_MS" not in app_settings.__dict__
        assert app_settings.BUDGET_MS == 123
        assert product_snapshot._snapshot is None
        assert model_versions._local == {}
        assert breakers._breakers == {}
        assert rendering._cards == {}
        assert clicks._link_template.cache_info().currsize == 0


class _NoProducts:
    """Stands for a catalog adapter with no products: the snapshot only calls this method."""

    def products_for_item_ids(self, item_ids):
        return {}


FORK_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import django
    django.setup()
    import importlib, pkgutil, recommendations
    for module in pkgutil.walk_packages(recommendations.__path__, "recommendations."):
        importlib.import_module(module.name)
    from recommendations.backends import base
    from recommendations.cache import local_state, near
    from recommendations.serving import inline_calls
    from recommendations.tracking import events

    ran = []
    for registration in local_state.registrations():
        if registration.after_fork is not None:
            local_state.register(
                registration.name,
                drop=registration.drop,
                settings=registration.settings,
                after_fork=(lambda name=registration.name, rebuild=registration.after_fork:
                            (ran.append(name), rebuild())),
            )
    parent = {"near": id(near.near_cache()), "buffer": id(events.buffer())}
    inline_calls._get_pool()
    base._backends["probe"] = object()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        report = {
            "ran": ran,
            "new_near_cache": id(near.near_cache()) != parent["near"],
            "new_event_buffer": id(events.buffer()) != parent["buffer"],
            "no_inline_pool": inline_calls._pool is None,
            "no_backends": base._backends == {},
        }
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    sys.stdout.write(os.read(read, 65536).decode())
    """
)


def test_a_forked_child_rebuilds_every_state_registered_for_a_fork():
    result = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report.pop("ran")) == sorted(
        name for name, kinds in EXPECTED.items() if "after_fork" in kinds
    )
    assert report == {
        "new_near_cache": True,
        "new_event_buffer": True,
        "no_inline_pool": True,
        "no_backends": True,
    }
