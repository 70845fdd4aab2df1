"""model/release.py (versioned folders, the `current` symlink, rollback, pruning) and
model/local_endpoint/reloading.py (a worker's model holder swapping when `current` moves)."""

import json
import logging
import os
import socket

import pytest

from model.data.synthetic import taste_interactions
from model.local_endpoint.reloading import ModelHolder
from model.local_endpoint.shared_state import SharedState
from model.training import release as release_module
from model.training.als import TrainingParams, fit
from model.training.release import activate, current_version, prune, release, wait_until_served

PARAMS = TrainingParams(factors=2, iterations=2)


def training_folder(path, seed: int):
    """A training folder of JSON Lines, as the export writes it."""
    data = taste_interactions(num_users=30, num_items=12, num_categories=3, seed=seed)
    path.mkdir(parents=True)
    lines = [
        json.dumps({"user_id": u, "item_id": i, "weight": w, "timestamp": t})
        for u, i, w, t in zip(
            data.user_ids.tolist(),
            data.item_ids.tolist(),
            data.weights.tolist(),
            data.timestamps.tolist(),
            strict=True,
        )
    ]
    (path / "interactions-000000000001-000000000999.jsonl").write_text("\n".join(lines) + "\n")
    (path / "_watermark.json").write_text('{"not": "training data"}')
    return path


def test_release_trains_into_a_versioned_folder_and_points_current_at_it(tmp_path):
    models = tmp_path / "models"
    metrics = release(
        training_folder(tmp_path / "t1", 1), models, run_evaluation=False, params=PARAMS
    )
    version = metrics["model_version"]
    assert os.readlink(models / "current") == version  # relative: the folder can move
    assert json.loads((models / "current" / "model.json").read_text())["model_version"] == version
    assert sorted(p.name for p in models.iterdir()) == sorted(["current", version])  # no staging


def test_the_same_data_again_keeps_the_served_folder(tmp_path):
    models = tmp_path / "models"
    data = training_folder(tmp_path / "t1", 1)
    first = release(data, models, run_evaluation=False, params=PARAMS)["model_version"]
    inode = (models / first / "model.npz").stat().st_ino
    assert release(data, models, run_evaluation=False, params=PARAMS)["model_version"] == first
    assert (models / first / "model.npz").stat().st_ino == inode  # not rewritten under a server


def test_new_data_becomes_current_and_the_previous_version_stays_for_a_rollback(tmp_path):
    models = tmp_path / "models"
    old = release(training_folder(tmp_path / "t1", 1), models, run_evaluation=False, params=PARAMS)
    new = release(training_folder(tmp_path / "t2", 2), models, run_evaluation=False, params=PARAMS)
    assert current_version(models) == new["model_version"] != old["model_version"]
    assert activate(models, old["model_version"]) == new["model_version"]
    assert current_version(models) == old["model_version"]


def test_prune_keeps_the_newest_versions_and_always_the_current_one(tmp_path):
    models = tmp_path / "models"
    versions = []
    for seed in range(4):
        data = training_folder(tmp_path / f"t{seed}", seed)
        versions.append(release(data, models, run_evaluation=False, params=PARAMS, keep=10))
    names = [v["model_version"] for v in versions]
    activate(models, names[0])  # a rollback to the oldest: it is now the newest touched
    removed = prune(models, keep=2)
    assert sorted(removed) == sorted(names[1:3])
    assert sorted(p.name for p in models.iterdir()) == sorted(["current", names[0], names[3]])


def test_failed_training_leaves_no_staging_folder_and_current_untouched(tmp_path):
    models = tmp_path / "models"
    old = release(training_folder(tmp_path / "t1", 1), models, run_evaluation=False, params=PARAMS)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert release_module.main(["--train", str(empty), "--models-dir", str(models)]) == 2
    assert current_version(models) == old["model_version"]
    assert sorted(p.name for p in models.iterdir()) == sorted(["current", old["model_version"]])


def test_activating_a_missing_version_is_refused(tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    assert release_module.main(["--models-dir", str(models), "--activate", "nope"]) == 2
    assert "no model there" in capsys.readouterr().err
    assert current_version(models) is None


def test_wait_reports_a_server_that_is_not_running(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert wait_until_served(f"http://127.0.0.1:{port}/ping", "v", timeout=1) is None


# --- the holder each server worker keeps --------------------------------------------------


@pytest.fixture
def two_versions(tmp_path):
    models = tmp_path / "models"
    old = release(training_folder(tmp_path / "t1", 1), models, run_evaluation=False, params=PARAMS)
    new = release(training_folder(tmp_path / "t2", 2), models, run_evaluation=False, params=PARAMS)
    activate(models, old["model_version"])
    return models, old["model_version"], new["model_version"]


def test_holder_swaps_when_current_moves_and_keeps_the_old_object_intact(two_versions):
    models, old, new = two_versions
    holder = ModelHolder(models / "current")
    in_flight = holder.model_for_request()
    assert holder.reload_if_changed() is False  # nothing moved
    activate(models, new)
    assert holder.reload_if_changed() is True
    assert holder.model_for_request().model_version == new
    assert in_flight.model_version == old  # a request holding the old model still can use it
    assert in_flight.recommend(in_flight.user_ids[0], 3).items


def test_holder_keeps_serving_when_the_new_folder_is_broken(two_versions, caplog):
    models, old, new = two_versions
    holder = ModelHolder(models / "current")
    broken = models / "broken"
    broken.mkdir()
    (broken / "model.json").write_text('{"format": 1, "model_version": "x"}')  # no arrays
    activate_link = models / ".tmp-link"
    os.symlink("broken", activate_link)
    os.replace(activate_link, models / "current")
    with caplog.at_level(logging.WARNING, logger="model.local_endpoint.reloading"):
        assert holder.reload_if_changed() is False
        assert holder.reload_if_changed() is False  # tried once per change, not every tick
    assert holder.model_for_request().model_version == old
    assert len([r for r in caplog.records if "cannot be loaded" in r.getMessage()]) == 1
    activate(models, new)
    assert holder.reload_if_changed() is True
    assert holder.model_for_request().model_version == new


def test_a_worker_catches_up_before_answering_once_another_swapped(two_versions):
    """Two holders sharing one SharedState stand for two gunicorn workers of one server."""
    models, old, new = two_versions
    shared = SharedState()
    first = ModelHolder(models / "current", shared=shared)
    second = ModelHolder(models / "current", shared=shared)
    activate(models, new)
    assert first.reload_if_changed() is True  # the first worker's watcher noticed
    # The second worker's watcher has not ticked yet, but it must not answer with the old model.
    assert second.current.model_version == old
    assert second.model_for_request().model_version == new


def test_a_worker_started_after_a_release_makes_the_others_catch_up(two_versions):
    models, old, new = two_versions
    shared = SharedState()
    running = ModelHolder(models / "current", shared=shared)
    assert running.current.model_version == old
    activate(models, new)
    restarted = ModelHolder(models / "current", shared=shared)  # gunicorn replaced a worker
    assert restarted.model_for_request().model_version == new
    assert running.model_for_request().model_version == new


def test_holder_watcher_thread_swaps_on_its_own(two_versions):
    models, _, new = two_versions
    holder = ModelHolder(models / "current")
    thread = holder.watch(0.01)
    try:
        activate(models, new)
        thread.join(timeout=0.5)  # the watcher runs on; this only gives it time
        for _ in range(200):
            if holder.current.model_version == new:
                break
            thread.join(timeout=0.05)
        assert holder.current.model_version == new
    finally:
        holder.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_model_dir_that_is_a_plain_folder_rewritten_in_place_is_reloaded(tmp_path):
    folder = tmp_path / "model"
    first = fit(taste_interactions(20, 10, 2, seed=1), PARAMS)
    first.save(folder)
    holder = ModelHolder(folder)
    second = fit(taste_interactions(20, 10, 2, seed=2), PARAMS)
    second.save(folder)  # model.json is written last, with a new mtime
    os.utime(folder / "model.json", ns=(1, 1))  # a different mtime even on a coarse clock
    assert holder.reload_if_changed() is True
    assert holder.current.model_version == second.model_version
