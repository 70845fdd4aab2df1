"""Settings of the demo's, the model's and the repository's tests: the demo shop's, on SQLite by
default or PostgreSQL with TEST_DB=postgres (tests/app runs on tests/app/settings.py)."""

from demo_shop.settings import *  # noqa: F403
from demo_shop.settings import RECOMMENDATIONS
from tests.support.test_services import *  # noqa: F403

# The demo measures itself (tracking, a 20% holdout); tests start from the app's defaults and turn
# those on where they test them, so that no other test sees a user held out by chance.
RECOMMENDATIONS = {
    **RECOMMENDATIONS,
    "TRACKING": False,
    "HOLDOUT_SHARE": 0.0,
    "CONTROL_SHARE": 0.0,
    # Pseudonyms keyed with SECRET_KEY whatever the demo's default or a checkout's .env says, the
    # same as under a test's own RECOMMENDATIONS, which names no key.
    "PSEUDONYM_KEY": None,
}
# The shop's catalog adapter, for tests that point the app somewhere with RECOMMENDATIONS of their own.
TEST_CATALOG = RECOMMENDATIONS["CATALOG"]
# The Celery app (`celery -A`) of the worker that tests/support/celery_worker.py starts.
TEST_CELERY_APP = "demo_shop"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
