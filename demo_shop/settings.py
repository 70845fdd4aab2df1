"""Settings of the demo shop: everything comes from the environment (see `.env.example`).

Defaults need no server at all: SQLite, a file-based cache and a filesystem Celery broker, all under
`.var/`, so that the web process and the Celery worker see the same cache and queue. `DATABASE_URL`
and `REDIS_URL` switch to PostgreSQL and Redis.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from recommendations import task_routes

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / ".var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional; a missing file is fine

# The demo's keys are published (here and in .env.example): fine on a laptop, never with DEBUG off.
DEMO_SECRET_KEY = "demo-shop-insecure-key-change-me"  # noqa: S105
DEMO_PSEUDONYM_KEY = "demo-shop-insecure-pseudonym-key-change-me"

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default=DEMO_SECRET_KEY)
# Older keys, newest first, while SECRET_KEY is being changed (sessions and links stay valid).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
# With DEBUG off the hosts must be named: a deployment never gets the laptop's defaults.
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else []
)
# The pseudonyms' key (RECOMMENDATIONS below) defaults to .env.example's with DEBUG on, so the demo
# runs the same with or without .env; with DEBUG off it must be set, or SECRET_KEY is borrowed
# (recommendations.W101 says so).
_PSEUDONYM_KEY = DEMO_PSEUDONYM_KEY if DEBUG else ""


def _refuse_to_run_insecurely() -> None:
    """Stop start-up, with a message saying what to set, when DEBUG is off and a secret is not."""
    problems = []
    if SECRET_KEY == DEMO_SECRET_KEY:
        problems.append("SECRET_KEY is the demo's published key")
    elif SECRET_KEY.startswith("django-insecure-"):
        problems.append("SECRET_KEY is marked insecure (django-insecure-...)")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS is empty")
    if problems:
        raise ImproperlyConfigured(
            f"DEBUG is off, but {' and '.join(problems)}. Set SECRET_KEY to a new random value and "
            "ALLOWED_HOSTS to the shop's host names in the environment (docs/security.md lists "
            "the production settings), or set DEBUG=true on a development machine."
        )


if not DEBUG:
    _refuse_to_run_insecurely()

# HTTPS: off by default so that the demo and the bench run on plain http on a laptop; the
# production settings in docs/security.md turn them on (manage.py check --deploy says the rest).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("SECURE_PROXY_SSL", default=False):
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips a client's own).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "demo_shop.catalog",
    "demo_shop.orders",
    "demo_shop.storefront",
    "recommendations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_shop.urls"
WSGI_APPLICATION = "demo_shop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "demo_shop" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo_shop.orders.context_processors.cart",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the Celery worker writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# django-redis rather than Django's own RedisCache: Django's builds a new redis.Redis client
# (copying its ~170 response callbacks) for every cache call, which costs a cached page about
# 0.2 ms; django-redis keeps one client per server. Measured by bench/page.py (see README).
#
# redis-py waits 5 s by default on a Redis that accepts connections but does not answer (paused,
# swapping, half-dead host), which would hold every page for 5 s per cache call; the page budget is
# ~150 ms, and a healthy Redis on the LAN answers in about a millisecond. A failed call is a cache
# miss (see recommendations/cache/access.py), so failing fast is always the better deal. Redis on
# another network may need more: raise them, but keep them well under RECOMMENDATIONS["BUDGET_MS"].
# The read timeout bounds each socket read, not a whole reply, so large values that keep flowing
# still load.
REDIS_CACHE_OPTIONS = {"SOCKET_CONNECT_TIMEOUT": 0.05, "SOCKET_TIMEOUT": 0.1}
REDIS_CACHE_BACKEND = "django_redis.cache.RedisCache"
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": REDIS_CACHE_BACKEND,
            "LOCATION": REDIS_URL,
            "TIMEOUT": 3600,
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "TIMEOUT": 3600,
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Celery -----------------------------------------------------------------------------------
# Filesystem transport by default: a worker in another process sees the same queue, no server needed.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The app's tasks on queues of their own (events, prefetch, maintenance: docs/installation.md), and
# every queue consumed by a worker started without -Q, as the Procfile's is.
CELERY_TASK_ROUTES = ("recommendations.task_routes.route_task",)
CELERY_TASK_QUEUES = [Queue(name) for name in ("celery", *task_routes.QUEUES)]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    # Popularity and co-purchase neighbours for the local fallback ranking.
    "recommendations-refresh-fallback": {
        "task": "recommendations.tasks.refresh_fallback",
        "schedule": 60 * 60,
    },
    # Every active customer's recommendations, fanned out in batches, before they ask.
    "recommendations-prefetch-active-users": {
        "task": "recommendations.tasks.prefetch_active_users",
        "schedule": env.int("RECOMMENDATIONS_PREFETCH_EVERY", default=10 * 60),
    },
    # What is new in the orders and clicks, to RECOMMENDATIONS_EXPORT_TO for the next training.
    "recommendations-export-interactions": {
        "task": "recommendations.tasks.export_interactions",
        "schedule": crontab(hour=3, minute=15),
    },
    # Daily counts per arm, source, variant and model version: what the report reads for past days.
    "recommendations-roll-up-tracking": {
        "task": "recommendations.tasks.roll_up_tracking",
        "schedule": crontab(minute=5),
    },
    # Raw impressions and clicks past TRACKING_RETENTION_DAYS (clicks once exported), in batches.
    "recommendations-purge-tracking": {
        "task": "recommendations.tasks.purge_tracking",
        "schedule": crontab(hour=4, minute=15),
    },
    # Yesterday's model traffic against the live model's training data (docs/operations.md, "Drift").
    "recommendations-compute-drift": {
        "task": "recommendations.tasks.compute_drift",
        "schedule": crontab(hour=0, minute=30),
    },
    # Yesterday's quality per model version, once the roll-up has counted it (docs/measuring.md).
    "recommendations-compute-quality": {
        "task": "recommendations.tasks.compute_quality",
        "schedule": crontab(hour=0, minute=40),
    },
}

# CloudWatch: publish the shop-wide figures every 5 minutes when a namespace is configured.
if env.str("RECOMMENDATIONS_CLOUDWATCH_NAMESPACE", default=""):
    CELERY_BEAT_SCHEDULE["recommendations-publish-cloudwatch"] = {
        "task": "recommendations.tasks.publish_cloudwatch_metrics",
        "schedule": 5 * 60,
    }

# --- The recommendations app ---------------------------------------------------------------
RECOMMENDATIONS = {
    "BACKEND": env.str("RECOMMENDATIONS_BACKEND", default="sagemaker"),
    "ENDPOINT_NAME": env.str("RECOMMENDATIONS_ENDPOINT_NAME", default="demo-recommender"),
    "ENDPOINT_URL": env.str("RECOMMENDATIONS_ENDPOINT_URL", default="") or None,
    "REGION": env.str("AWS_DEFAULT_REGION", default="eu-west-1"),
    "BUDGET_MS": env.int("RECOMMENDATIONS_BUDGET_MS", default=150),
    "PRODUCT_MODEL": "catalog.Product",
    "CATALOG": "demo_shop.catalog.recommendations.DemoCatalog",
    # The demo sells in euros: the widget's cards show "€" in the visitor's number format.
    "CURRENCY": "EUR",
    # The demo measures itself: impressions and clicks, and a holdout that sees only the fallback.
    "TRACKING": env.bool("RECOMMENDATIONS_TRACKING", default=True),
    "NEAR_CACHE_SECONDS": env.float("RECOMMENDATIONS_NEAR_CACHE_SECONDS", default=300),
    "HOLDOUT_SHARE": env.float("RECOMMENDATIONS_HOLDOUT_SHARE", default=0.2),
    "SECOND_VARIANT": env.str("RECOMMENDATIONS_SECOND_VARIANT", default="") or None,
    "SECOND_VARIANT_SHARE": env.float("RECOMMENDATIONS_SECOND_VARIANT_SHARE", default=0.0),
    # Visitors who see no widget at all, for the widget-against-no-widget lift (docs/measuring.md).
    "CONTROL_SHARE": env.float("RECOMMENDATIONS_CONTROL_SHARE", default=0.2),
    # The daily export's destination: a folder (the one `make retrain` trains from) or s3://...
    "EXPORT_DESTINATION": env.str("RECOMMENDATIONS_EXPORT_TO", default=str(VAR_DIR / "training")),
    "EXPORT_S3_ENDPOINT_URL": env.str("RECOMMENDATIONS_EXPORT_S3_ENDPOINT_URL", default="") or None,
    "CLOUDWATCH_NAMESPACE": env.str("RECOMMENDATIONS_CLOUDWATCH_NAMESPACE", default="") or None,
    # The live model's training baseline, which `make retrain` writes next to the model.
    "DRIFT_BASELINE": env.str(
        "RECOMMENDATIONS_DRIFT_BASELINE",
        default=str(VAR_DIR / "models" / "current" / "drift_baseline.json.gz"),
    ),
    # The pseudonyms' own key, and older ones while it changes (docs/security.md).
    "PSEUDONYM_KEY": env.str("RECOMMENDATIONS_PSEUDONYM_KEY", default=_PSEUDONYM_KEY) or None,
    "PSEUDONYM_KEY_FALLBACKS": env.list("RECOMMENDATIONS_PSEUDONYM_KEY_FALLBACKS", default=[]),
    # /recommendations/metrics/: a bearer token for the scraper, and the addresses let in without
    # it (behind a reverse proxy: empty, since every request has the proxy's address).
    "METRICS_TOKEN": env.str("RECOMMENDATIONS_METRICS_TOKEN", default=""),
    "METRICS_ALLOWED_IPS": env.list(
        "RECOMMENDATIONS_METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"]
    ),
}

# The home page shows the widget unless this is false (bench/page.py measures the page without it).
DEMO_RECOMMENDATIONS_WIDGET = env.bool("DEMO_RECOMMENDATIONS_WIDGET", default=True)

DEMO_PASSWORD = "demo-shop"  # noqa: S105 - the seeded customers' published demo password
