"""Settings of the Celery worker subprocess that the Celery integration tests start.

The worker must see what the test process sees: the test database (its name comes from the test
process), the real Redis broker and the real Redis cache, and the same RECOMMENDATIONS.
"""

import json
import os
from importlib import import_module

# The settings of the test process that started the worker (tests.settings or tests.app.settings).
_base = import_module(os.environ["WORKER_BASE_SETTINGS"])
globals().update({name: getattr(_base, name) for name in dir(_base) if name.isupper()})
DATABASES = _base.DATABASES

DATABASES["default"]["NAME"] = os.environ["WORKER_DATABASE_NAME"]
DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ["WORKER_DATABASE_NAME"]
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["WORKER_CACHE_URL"],
    }
}
CELERY_BROKER_URL = os.environ["WORKER_BROKER_URL"]
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 30}
RECOMMENDATIONS = json.loads(os.environ["WORKER_RECOMMENDATIONS"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
