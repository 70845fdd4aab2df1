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

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every module that keeps state per process, under the name it registers.
EXPECTED = {
    "conf": ("drop", "after_fork"),
    "cache_outage": ("drop", "after_fork"),
    "near_cache": ("drop", "after_fork"),
    "breakers": ("drop", "after_fork"),
    "backends": ("after_fork",),
    "http_clients": ("after_fork",),
    "sagemaker_clients": ("after_fork",),
    "inline_calls": ("after_fork",),
    "rendering": ("drop", "after_fork"),
    "product_snapshot": ("drop", "after_fork"),
    "model_versions": ("drop", "after_fork"),
    "refresh_queue": ("after_fork",),
    "click_links": ("drop",),
    "event_buffer": ("after_fork",),
}


@pytest.fixture
def isolated_registry(monkeypatch):
    """The registry as it is, on a copy: what a test registers is gone after it."""
    monkeypatch.setattr(local_state, "_registrations", dict(local_state._registrations))


def _import_every_module() -> None:
    # Every module but the Oscar integration, which needs django-oscar and its apps installed
    # (the [oscar] extra): tests/oscar imports it in an Oscar shop, and it keeps no process state.
    import importlib
    import pkgutil

    import recommendations

    for module in pkgutil.walk_packages(recommendations.__path__, "recommendations."):
        if not module.name.startswith("recommendations.contrib.oscar"):
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
        if not module.name.startswith("recommendations.contrib.oscar"):
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


# A thread holds every lock the app keeps while the process forks; the child must find each of
# them free and run the code that takes it. Forked from a fresh interpreter, single-threaded but
# for the holder, as gunicorn's arbiter is when it forks (pytest's own process runs threads).
HELD_AT_FORK_SCRIPT = textwrap.dedent(
    """
    import importlib, json, os, pkgutil, signal, sys, threading, time, types
    import django
    django.setup()
    import recommendations
    for module in pkgutil.walk_packages(recommendations.__path__, "recommendations."):
        if not module.name.startswith("recommendations.contrib.oscar"):
            importlib.import_module(module.name)
    from recommendations.backends import base, breaker, http, sagemaker
    from recommendations.cache import access, local_state, near
    from recommendations.conf import app_settings
    from recommendations.prefetch import model_versions, refresh_queue
    from recommendations.serving import inline_calls, product_snapshot, rendering
    from recommendations.tracking import events

    LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()), threading.Condition)

    def locks_in(value, path, depth):
        if isinstance(value, LOCK_TYPES):
            yield path, value
        elif depth and type(value).__module__.startswith("recommendations."):
            for name, attribute in vars(value).items():
                yield from locks_in(attribute, path + "." + name, depth - 1)

    def every_lock():
        # Each lock once, under the module that defines it or the object holding it.
        found, seen = {}, set()
        for name, module in sorted(sys.modules.items()):
            if isinstance(module, types.ModuleType) and name.startswith("recommendations."):
                for attribute, value in list(vars(module).items()):
                    if isinstance(value, LOCK_TYPES) or type(value).__module__ == name:
                        for path, lock in locks_in(value, name + "." + attribute, 2):
                            if id(lock) not in seen:
                                seen.add(id(lock))
                                found[path] = lock
        return found

    class NoProducts:
        def products_for_item_ids(self, item_ids):
            return {}

    # Code that takes each lock, as a page, a task or a setting change runs it.
    TAKES = {
        "local_state": lambda: local_state.register("probe", drop=lambda: None),
        "conf": app_settings.reload,
        "cache_outage": access.get_cache().forget_outage,
        "near_cache": lambda: near.near_cache().stop(),
        "event_buffer": lambda: events.buffer().clear(),
        "refresh_queue": refresh_queue.reset_pause,
        "model_versions": model_versions.forget_local,
        "rendering": rendering.forget_cards,
        "product_snapshot": lambda: product_snapshot.products(NoProducts(), ["1"], 7),
        "breakers": lambda: breaker.get_breaker("probe-after-fork"),
        "backends": base.reset_clients,
        "http_clients": http._reset_clients,
        "sagemaker_clients": sagemaker._reset_clients,
        "inline_calls": inline_calls._get_pool,
    }

    inline_calls._get_pool()
    held = every_lock()
    holding, release = threading.Event(), threading.Event()

    def hold():
        for lock in held.values():
            lock.acquire()
        holding.set()
        release.wait()
        for lock in held.values():
            lock.release()

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        takers = {name: threading.Thread(target=take, daemon=True) for name, take in TAKES.items()}
        for taker in takers.values():
            taker.start()
        deadline = time.monotonic() + 10
        for taker in takers.values():
            taker.join(max(0.0, deadline - time.monotonic()))
        held_in_child = []
        for path, lock in every_lock().items():
            if lock.acquire(blocking=False):
                lock.release()
            else:
                held_in_child.append(path)
        report = {
            "held_in_child": sorted(held_in_child),
            "hung": sorted(name for name, taker in takers.items() if taker.is_alive()),
        }
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 30
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.05)
    answer = os.read(read, 65536).decode() or json.dumps({"child": "hung in the at-fork hooks"})
    sys.stdout.write(json.dumps({"held_at_fork": sorted(held), **json.loads(answer)}))
    release.set()
    holder.join()
    """
)


def test_a_lock_held_by_another_thread_at_a_fork_is_free_in_the_child():
    result = subprocess.run(
        [sys.executable, "-c", HELD_AT_FORK_SCRIPT],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Every module-level lock and every lock of a module-level object was held at the fork.
    assert {
        "recommendations.conf.app_settings._lock",
        "recommendations.cache.access._default_cache._outage._lock",
        "recommendations.prefetch.refresh_queue._pause_lock",
        "recommendations.prefetch.model_versions._local_lock",
        "recommendations.serving.rendering._lock",
        "recommendations.serving.product_snapshot._lock",
        "recommendations.backends.breaker._breakers_lock",
    } <= set(report.pop("held_at_fork"))
    assert report == {"held_in_child": [], "hung": []}
