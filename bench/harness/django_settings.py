"""Settings of the bench's web servers: the demo shop's, plus RECOMMENDATIONS overrides.

`BENCH_RECOMMENDATIONS` holds a JSON object merged over the demo's RECOMMENDATIONS dict, for the
settings the demo does not read from the environment (breaker thresholds). `BENCH_VISIBILITY_TIMEOUT`
sets the Redis broker's visibility timeout: how long a message a lost worker held waits before it
is delivered again (bench/chaos.py kills workers and waits for that). `BENCH_APP_LOG` names a
file that gets the app's WARNING lines as JSON with their `extra=` fields (see log_fields.py).
"""

import json
import os

from demo_shop.settings import *  # noqa: F403
from demo_shop.settings import LOGGING as DEMO_LOGGING
from demo_shop.settings import RECOMMENDATIONS as DEMO_RECOMMENDATIONS

RECOMMENDATIONS = {
    **DEMO_RECOMMENDATIONS,
    **json.loads(os.environ.get("BENCH_RECOMMENDATIONS") or "{}"),
}

if os.environ.get("BENCH_VISIBILITY_TIMEOUT"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": float(os.environ["BENCH_VISIBILITY_TIMEOUT"])
    }

if os.environ.get("BENCH_APP_LOG"):
    LOGGING = {
        **DEMO_LOGGING,
        "formatters": {
            **DEMO_LOGGING["formatters"],
            "fields": {"()": "harness.log_fields.FieldsFormatter"},
        },
        "handlers": {
            **DEMO_LOGGING["handlers"],
            "fields": {
                "class": "logging.FileHandler",
                "filename": os.environ["BENCH_APP_LOG"],
                "formatter": "fields",
            },
        },
        "loggers": {
            **DEMO_LOGGING["loggers"],
            "recommendations": {"handlers": ["fields"], "level": "WARNING", "propagate": True},
        },
    }
