"""The lock in the shared cache that the fallback refresh, the export and the event flush take:
only the run that holds it releases it."""

from recommendations.cache.access import get_cache
from recommendations.cache.lock import CacheLock


def test_a_second_run_does_not_get_a_held_lock_and_gets_it_once_released():
    first, second = CacheLock("test-lock", 60), CacheLock("test-lock", 60)
    assert first.acquire() is True
    assert second.acquire() is False
    second.release()  # not its lock: nothing happens
    assert get_cache().get("test-lock") == first.token
    first.release()
    assert second.acquire() is True


def test_a_run_that_outlived_its_lock_leaves_the_next_runs_lock_alone():
    slow, next_run = CacheLock("test-lock", 60), CacheLock("test-lock", 60)
    assert slow.acquire()
    get_cache().delete("test-lock")  # stands for the lock's expiry while the slow run went on
    assert next_run.acquire()
    slow.release()
    assert get_cache().get("test-lock") == next_run.token


def test_a_run_carried_from_task_to_task_renews_its_lock_by_its_token():
    first_task = CacheLock("test-lock", 60)
    assert first_task.acquire()
    next_task = CacheLock("test-lock", 60, token=first_task.token)  # the token in the message
    assert next_task.renew() is True
    assert CacheLock("test-lock", 60).acquire() is False  # still held for the run
    next_task.release()
    assert get_cache().get("test-lock") is None


def test_a_renewal_takes_an_expired_lock_again_but_not_another_runs():
    run = CacheLock("test-lock", 60)
    assert run.acquire()
    get_cache().delete("test-lock")  # stands for the lock's expiry between two of its tasks
    assert CacheLock("test-lock", 60, token=run.token).renew() is True
    get_cache().delete("test-lock")
    other = CacheLock("test-lock", 60)
    assert other.acquire()
    assert CacheLock("test-lock", 60, token=run.token).renew() is False
    assert get_cache().get("test-lock") == other.token
