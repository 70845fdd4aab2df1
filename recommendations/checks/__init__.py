"""The app's system checks, registered here; each module holds the checks of one concern.

`settings.py`: every RECOMMENDATIONS setting against its kind, then the rules that tie settings
together (E001..., W001...), with `beat_schedule.py` for the rollup and purge entries (W003);
`catalog.py`: the features the catalog adapter leaves off and the names its default describe()
cannot find (W005, W006); `security.py`: the pseudonym key and the metrics view (E101..., W101...);
`live_model.py`: the live model's age and drift (W010, W011; a database check,
`manage.py check --database default`).
"""

from django.core.checks import Tags, register

from .catalog import check_catalog
from .live_model import check_live_model_drift
from .security import check_metrics_access, check_pseudonym_key
from .settings import check_settings

register(Tags.compatibility)(check_settings)
register(Tags.compatibility)(check_catalog)
register(Tags.security)(check_pseudonym_key)
register(Tags.security, deploy=True)(check_metrics_access)
register(Tags.database)(check_live_model_drift)

__all__ = [
    "check_catalog",
    "check_live_model_drift",
    "check_metrics_access",
    "check_pseudonym_key",
    "check_settings",
]
