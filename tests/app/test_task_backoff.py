"""The prefetch tasks' retry backoff is Celery's own exponential backoff with full jitter."""

import random

from django.test import override_settings

from recommendations.tasks import RETRY_BACKOFF_MAX, backoff_seconds


def test_the_backoff_window_doubles_per_retry_up_to_the_cap():
    random.seed(3)
    with override_settings(RECOMMENDATIONS={"PREFETCH_RETRY_BACKOFF": 0.5}):
        for retries in range(12):
            window = min(RETRY_BACKOFF_MAX, 0.5 * 2**retries)
            waits = [backoff_seconds(retries) for _ in range(200)]
            assert all(0 <= wait <= window for wait in waits)
            # Full jitter: the waits spread over the window, not bunched at its end.
            assert min(waits) < window / 4 < window * 3 / 4 < max(waits)


def test_a_fraction_of_a_second_is_kept():
    with override_settings(RECOMMENDATIONS={"PREFETCH_RETRY_BACKOFF": 0.2}):
        waits = {backoff_seconds(3) for _ in range(200)}
    assert max(waits) <= 1.6
    assert any(0 < wait < 1 and wait != round(wait) for wait in waits)
