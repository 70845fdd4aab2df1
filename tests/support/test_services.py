"""What both settings modules of the tests share: the test database, the real Redis's databases,
Celery in memory, and an AWS environment of test keys. Imported with `*` by tests/settings.py (the
demo shop's) and tests/app/settings.py (the app's minimal ones)."""

import os
from pathlib import Path

import environ

from tests.support import aws_keys

VAR_DIR = Path(__file__).resolve().parents[2] / ".var"

TEST_DB = os.environ.get("TEST_DB", "sqlite")
TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hybrid_recommendations"
)
# The real Redis: three logical databases per test process, counting down from TEST_REDIS_URL's
# (15, 14, 13), for the cache tests, the Celery broker and the Celery worker's cache. Under
# pytest-xdist each worker (gw0, gw1, ...) takes the next three down, so that parallel workers
# never flush each other's.
_redis_server, _, _redis_db = os.environ.get(
    "TEST_REDIS_URL", "redis://127.0.0.1:6379/15"
).rpartition("/")
_redis_first = int(_redis_db) - 3 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
if _redis_first < 2:
    raise RuntimeError(f"too many test workers for Redis's 16 databases ({_redis_first=})")
TEST_REDIS_URL, TEST_REDIS_BROKER_URL, TEST_REDIS_CACHE_URL = (
    f"{_redis_server}/{_redis_first - n}" for n in range(3)
)

if TEST_DB == "postgres":
    DATABASES = {"default": environ.Env.db_url_config(TEST_DATABASE_URL)}
else:
    # A file (not :memory:) so that worker and server subprocesses see the test database; one
    # per test run, so that two runs on one machine never share it.
    VAR_DIR.mkdir(exist_ok=True)  # a fresh clone has no .var yet
    _test_db = str(VAR_DIR / f"test-{os.getpid()}.sqlite3")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _test_db,
            "TEST": {"NAME": _test_db},
        }
    }

# Each test starts from an empty in-process cache; tests that need Redis switch to it explicitly.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
CELERY_TASK_ALWAYS_EAGER = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}

# A test secret that must never show up in a log line (tests grep for it).
os.environ.setdefault("AWS_ACCESS_KEY_ID", aws_keys.TEST_ACCESS_KEY)
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", aws_keys.TEST_SECRET)
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
# Never read a developer's own AWS config in tests.
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
