"""`app_settings` keeps the merged RECOMMENDATIONS until Django says they changed (`recommendations.conf`)."""

import pytest
from django.test import override_settings

from recommendations.conf import app_settings
from recommendations.conf.defaults import DEFAULTS


def test_overrides_and_defaults_are_read_again_after_a_change(settings):
    with override_settings(RECOMMENDATIONS={"BUDGET_MS": 90}):
        assert app_settings.BUDGET_MS == 90
        assert app_settings.get("NUM_ITEMS") == DEFAULTS["NUM_ITEMS"]
    settings.RECOMMENDATIONS = {"BUDGET_MS": 120}  # pytest-django sends setting_changed too
    assert app_settings.BUDGET_MS == 120


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="NO_SUCH"):
        app_settings.get("NO_SUCH")
