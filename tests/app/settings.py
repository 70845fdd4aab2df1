"""The app's tests run on these: the app, Django's auth and admin, and a test-only shop."""

from kombu import Queue

from recommendations import task_routes
from tests.support.test_services import *  # noqa: F403

SECRET_KEY = "app-tests-secret-key-not-used-anywhere-else-0123456789"
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "recommendations",
    "tests.app.shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.app.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
CELERY_TASK_ROUTES = ("recommendations.task_routes.route_task",)
CELERY_TASK_QUEUES = [Queue(name) for name in ("celery", *task_routes.QUEUES)]
CELERY_TASK_IGNORE_RESULT = True
# The Redis cache the Redis tests switch to (tests/support/redis_process.py), as a shop configures it.
REDIS_CACHE_BACKEND = "django_redis.cache.RedisCache"
REDIS_CACHE_OPTIONS = {"SOCKET_CONNECT_TIMEOUT": 0.05, "SOCKET_TIMEOUT": 0.1}
TEST_CATALOG = "tests.app.shop.catalog.ShopCatalog"
TEST_CELERY_APP = "tests.app.shop"
RECOMMENDATIONS = {
    "ENDPOINT_NAME": "test-recommender",
    "PRODUCT_MODEL": "shop.Product",
    "CATALOG": TEST_CATALOG,
    "CURRENCY": "EUR",
}
