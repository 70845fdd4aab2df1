"""The database check of the live model: older than MODEL_MAX_AGE_DAYS, or drifted (W010, W011)."""

from typing import Any

from django.core.checks import CheckMessage, Warning

from ..conf import app_settings


def check_live_model_drift(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when the live model is older than MODEL_MAX_AGE_DAYS or its newest drift is over a
    threshold (a database check: `manage.py check --database default`)."""
    if not databases:
        return []
    from django.db import DatabaseError

    from ..drift import daily, live

    try:
        model = live.live_model()
    except DatabaseError:
        return []  # before migrate: nothing to say yet
    if model is None:
        return []
    warnings: list[CheckMessage] = []
    limit = app_settings.MODEL_MAX_AGE_DAYS
    if model.age_days is not None and model.age_days > limit:
        warnings.append(
            Warning(
                f"The live model {model.version} was trained on data whose newest event is "
                f"{model.age_days:.1f} days old, more than MODEL_MAX_AGE_DAYS ({limit}).",
                hint="Retrain on a fresh export (make retrain, or make deploy on AWS); "
                'docs/operations.md, "Drift".',
                id="recommendations.W010",
            )
        )
    if model.latest is not None:
        over = [
            f"{name} {getattr(model.latest, name):.3f} > {setting} {getattr(app_settings, setting)}"
            for setting, name in daily.THRESHOLDS
            if name != "model_age_days"
            and getattr(model.latest, name) is not None
            and getattr(model.latest, name) > getattr(app_settings, setting)
        ]
        if over:
            warnings.append(
                Warning(
                    f"The live model {model.version} drifted from its training data on "
                    f"{model.latest.day}: {'; '.join(over)}.",
                    hint='docs/operations.md, "Drift", says what each figure means and what to do.',
                    id="recommendations.W011",
                )
            )
    return warnings
