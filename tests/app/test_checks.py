"""System checks: each misconfiguration a shop can make gives its own id, message and hint."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from recommendations.checks import check_settings

GOOD = {
    "ENDPOINT_NAME": "shop-recommender",
    "PRODUCT_MODEL": "shop.Product",
    "CATALOG": "tests.app.shop.catalog.ShopCatalog",
    "CURRENCY": "EUR",
}


def ids(**overrides):
    with override_settings(RECOMMENDATIONS={**GOOD, **overrides}):
        return [message.id for message in check_settings()]


def test_a_good_configuration_passes():
    assert ids() == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"BACKEND": "no.such.Backend"}, ["recommendations.E002"]),
        ({"ENDPOINT_NAME": ""}, ["recommendations.E003"]),
        ({"BACKEND": "http"}, ["recommendations.E004"]),
        ({"CODEC": "nope"}, ["recommendations.E005"]),
        ({"CATALOG": "no.such.Catalog"}, ["recommendations.E006"]),
        ({"BUDGET_MS": 0}, ["recommendations.E007"]),
        ({"BUDGET_MS": "fast"}, ["recommendations.E007"]),
        ({"READ_TIMEOUT": -1}, ["recommendations.E008"]),
        ({"READ_TIMEOUT": 2.0}, ["recommendations.E009"]),
        ({"CONNECT_TIMEOUT": 0.5, "BUDGET_MS": 100}, ["recommendations.E009"]),
        ({"CACHE_ALIAS": "missing"}, ["recommendations.E010"]),
        ({"NUM_ITEMS": 0}, ["recommendations.E011"]),
        ({"FRESH_TTL": 100, "STALE_TTL": 10}, ["recommendations.E012"]),
        ({"HOLDOUT_SHARE": 1.5}, ["recommendations.E013"]),
        ({"EVENT_BATCH_SIZE": 0}, ["recommendations.E011"]),
        ({"CLICK_MAX_AGE": "1 day"}, ["recommendations.E011"]),
        ({"EVENT_FLUSH_INTERVAL": 0}, ["recommendations.E015"]),
        ({"EXPORT_CHUNK_SIZE": 0}, ["recommendations.E011"]),
        ({"INLINE_CALL_THREADS": 0}, ["recommendations.E011"]),
        ({"CARD_CACHE_SECONDS": -5}, ["recommendations.E019"]),
        ({"PRODUCT_SNAPSHOT_SECONDS": "often"}, ["recommendations.E019"]),
        ({"NEAR_CACHE_SECONDS": -1}, ["recommendations.E019"]),
        ({"EXPORT_DESTINATION": "ftp://host/x"}, ["recommendations.E017"]),
        ({"EXPORT_DESTINATION": None}, ["recommendations.E017"]),
        ({"EXPORT_FORMAT": "parquet"}, ["recommendations.E018"]),
        ({"EXPORT_SETTLE_SECONDS": -1}, ["recommendations.E019"]),
        ({"MODEL_VERSION_REFRESH_SPREAD": "soon"}, ["recommendations.E019"]),
        ({"EXPORT_S3_EXTRA_ARGS": "AES256"}, ["recommendations.E020"]),
        (
            {"HOLDOUT_SHARE": 0.6, "SECOND_VARIANT": "B", "SECOND_VARIANT_SHARE": 0.5},
            ["recommendations.E016"],
        ),
        (
            {"HOLDOUT_SHARE": 0.5, "CONTROL_SHARE": 0.6, "TRACKING": True},
            ["recommendations.E024"],
        ),
        ({"CONTROL_SHARE": 0.2}, ["recommendations.W002"]),
        (
            {
                "HOLDOUT_SHARE": 0.2,
                "SECOND_VARIANT": "B",
                "SECOND_VARIANT_SHARE": 0.3,
                "CONTROL_SHARE": 0.6,
                "TRACKING": True,
            },
            ["recommendations.E024"],
        ),
        ({"CONTROL_SHARE": 1.5}, ["recommendations.E013"]),
        (
            {"CATALOG": "recommendations.catalog.CatalogAdapter", "PRODUCT_MODEL": "shop.Nope"},
            ["recommendations.E014"],
        ),
        ({"ENDPOINT_NAMES": "typo"}, ["recommendations.W001"]),
        ({"TRACKING_RETENTION_DAYS": 13}, ["recommendations.E025"]),
        ({"TRACKING_RETENTION_DAYS": 0}, ["recommendations.E011"]),
    ],
)
def test_each_misconfiguration_has_its_own_id(overrides, expected):
    assert ids(**overrides) == expected


def test_a_settings_value_that_is_not_a_dict():
    with override_settings(RECOMMENDATIONS="endpoint"):
        assert [m.id for m in check_settings()] == ["recommendations.E001"]


def test_messages_name_the_setting_and_give_a_hint():
    with override_settings(RECOMMENDATIONS={**GOOD, "ENDPOINT_NAME": ""}):
        (message,) = check_settings()
    assert "RECOMMENDATIONS['ENDPOINT_NAME']" in message.msg
    assert message.hint


@pytest.mark.django_db  # Django 6.1's `check` also runs the database checks (JSONField support)
def test_manage_py_check_reports_the_error():
    with (
        override_settings(RECOMMENDATIONS={**GOOD, "CACHE_ALIAS": "missing"}),
        pytest.raises(SystemCheckError, match=r"recommendations\.E010"),
    ):
        call_command("check")


def test_overrides_are_read_when_used():
    """conf reads settings lazily, so override_settings changes what the app sees."""
    from recommendations.conf import app_settings

    with override_settings(RECOMMENDATIONS={"BUDGET_MS": 321}):
        assert app_settings.BUDGET_MS == 321
    assert app_settings.BUDGET_MS != 321


# --- every setting, from its declaration in recommendations/conf/defaults.py or its backend ---

from recommendations.conf import defaults  # noqa: E402
from recommendations.conf.declared import declared_settings  # noqa: E402

# The core settings' and the built-in backends' (each declares its own), as two dicts.
DEFAULTS = {name: setting.default for name, setting in declared_settings().items()}
KINDS = {
    **{name: setting.kind for name, setting in declared_settings().items()},
    **defaults.KINDS,
}
SETTINGS = sorted(DEFAULTS)


def errors_for(name, value):
    with override_settings(RECOMMENDATIONS={**GOOD, name: value}):
        return check_settings()


def test_every_setting_has_a_kind_and_no_kind_is_left_over():
    # A setting added to DEFAULTS gets its line in KINDS (the type and range its checks use).
    assert sorted(KINDS) == SETTINGS


@pytest.mark.parametrize("name", SETTINGS)
def test_every_default_fits_its_kind(name):
    assert KINDS[name].problem(DEFAULTS[name]) is None


@pytest.mark.parametrize("name", SETTINGS)
def test_a_value_of_the_wrong_type_is_an_error_naming_the_setting(name):
    kind = KINDS[name]
    messages = errors_for(name, kind.wrong_value())
    assert [m.id for m in messages] == [kind.check_id]
    assert f"RECOMMENDATIONS['{name}']" in messages[0].msg
    assert kind.describe() in messages[0].msg


@pytest.mark.parametrize(
    "name", [name for name in SETTINGS if KINDS[name].out_of_range_value() is not None]
)
def test_a_value_out_of_range_is_an_error_naming_the_setting(name):
    kind = KINDS[name]
    messages = errors_for(name, kind.out_of_range_value())
    assert [m.id for m in messages] == [kind.check_id]
    assert f"RECOMMENDATIONS['{name}']" in messages[0].msg


def test_any_object_is_refused_by_every_setting():
    # Not only the wrong value each kind names: a value no setting can hold.
    for name in SETTINGS:
        assert [m.id for m in errors_for(name, object())] == [KINDS[name].check_id], name


def test_the_registries_the_checks_use_are_the_codes_own():
    from recommendations.backends.base import BUILTIN_BACKENDS
    from recommendations.backends.codecs import BUILTIN_CODECS
    from recommendations.export.rows import FORMATS

    for name in BUILTIN_BACKENDS:
        assert errors_for("BACKEND", name) == [] or name == "http"  # http also needs HTTP_URL
    for name in BUILTIN_CODECS:
        assert errors_for("CODEC", name) == []
    for name in FORMATS:
        assert errors_for("EXPORT_FORMAT", name) == []
    assert "'jsonl', 'csv'" in KINDS["EXPORT_FORMAT"].describe()


def test_a_dotted_path_must_name_the_right_base_class():
    # Importable, but a codec is no backend.
    assert [m.id for m in errors_for("BACKEND", "recommendations.backends.codecs.JSONCodec")] == [
        "recommendations.E002"
    ]
    assert errors_for("CODEC", "recommendations.backends.codecs.SageMakerJSONCodec") == []


def test_a_product_model_of_the_wrong_type_is_one_error_not_a_crash():
    overrides = {"CATALOG": "recommendations.catalog.CatalogAdapter", "PRODUCT_MODEL": 5}
    assert ids(**overrides) == ["recommendations.E021"]


def test_a_setting_added_without_a_kind_yet_is_read_and_checked_without_error(monkeypatch):
    # How a setting arrives from another branch: its default at the end of DEFAULTS, no kind yet.
    from recommendations.conf import app_settings

    monkeypatch.setitem(defaults.DEFAULTS, "NEW_SETTING", 3)
    with override_settings(RECOMMENDATIONS={**GOOD, "NEW_SETTING": "anything"}):
        assert app_settings.NEW_SETTING == "anything"
        assert check_settings() == []


# --- the beat schedule: the rollup and the purge that make the retention true ----------------

PREFETCH = {"task": "recommendations.tasks.prefetch_active_users", "schedule": 600}
ROLL_UP = {"task": "recommendations.tasks.roll_up_tracking", "schedule": 3600}
PURGE = {"task": "recommendations.tasks.purge_tracking", "schedule": 86400}


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"prefetch": PREFETCH}, ["recommendations.W003"]),
        ({"prefetch": PREFETCH, "roll-up": ROLL_UP}, ["recommendations.W003"]),
        ({"prefetch": PREFETCH, "purge": PURGE}, ["recommendations.W003"]),
        ({"prefetch": PREFETCH, "roll-up": ROLL_UP, "purge": PURGE}, []),
    ],
)
def test_a_beat_schedule_without_the_rollup_or_the_purge_is_warned_about(schedule, expected):
    with override_settings(CELERY_BEAT_SCHEDULE=schedule):
        assert ids(TRACKING=True) == expected
        assert ids(TRACKING_RETENTION_DAYS=30) == expected  # a retention set, tracking or not


def test_the_warning_names_the_missing_task_and_the_retention():
    with override_settings(
        CELERY_BEAT_SCHEDULE={"roll-up": ROLL_UP},
        RECOMMENDATIONS={**GOOD, "TRACKING": True, "TRACKING_RETENTION_DAYS": 30},
    ):
        (message,) = check_settings()
    assert "recommendations.tasks.purge_tracking" in message.msg
    assert "roll_up_tracking" not in message.msg
    assert "TRACKING_RETENTION_DAYS (30 days)" in message.msg
    assert "docs/installation.md" in message.hint


def test_without_tracking_or_a_retention_of_its_own_the_schedule_is_not_checked():
    with override_settings(CELERY_BEAT_SCHEDULE={"prefetch": PREFETCH}):
        assert ids() == []


def test_a_database_scheduler_is_not_second_guessed():
    # django-celery-beat keeps its entries in the database: this check cannot see them.
    with override_settings(
        CELERY_BEAT_SCHEDULE={"prefetch": PREFETCH},
        CELERY_BEAT_SCHEDULER="django_celery_beat.schedulers:DatabaseScheduler",
    ):
        assert ids(TRACKING=True) == []


@pytest.fixture
def shop_celery_app(settings):
    """A shop whose Celery app holds the beat schedule in code (`app.conf.beat_schedule`), with
    no CELERY_BEAT_SCHEDULE setting; the app is current, as the shop's is once imported."""
    from celery import Celery, current_app

    del settings.CELERY_BEAT_SCHEDULE
    previous = current_app._get_current_object()
    app = Celery("shop", set_as_current=True)
    yield app
    previous.set_current()


def test_the_current_celery_apps_schedule_is_read_without_the_setting(shop_celery_app):
    shop_celery_app.conf.beat_schedule = {"prefetch": PREFETCH, "roll-up": ROLL_UP}
    assert ids(TRACKING=True) == ["recommendations.W003"]
    shop_celery_app.conf.beat_schedule = {"roll-up": ROLL_UP, "purge": PURGE}
    assert ids(TRACKING=True) == []


def test_no_schedule_in_sight_says_nothing(shop_celery_app):
    # Beat may get its entries where the app cannot look (a command line, another process).
    assert ids(TRACKING=True) == []
