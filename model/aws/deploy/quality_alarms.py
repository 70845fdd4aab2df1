"""The quality alarms: the shop's own figures, published by the app, that call a person.

The app publishes these daily to its `CLOUDWATCH_NAMESPACE`: the drift figures and the model's
age per `ModelVersion` (the version the endpoint answers with), the lift per `ModelVersion` and
`Variant` (the production variant that answered).
docs/operations.md lists them and says what to do when each alarm fires. These alarms notify;
they are never rollback alarms (a quality figure is a day's worth of traffic, and a deployment
rolls back within minutes), so they stay out of AutoRollbackConfiguration.
"""

from typing import Any

from .plan import Call
from .rules import DAY_SECONDS
from .spec import QualityAlarms

# The metric names the app publishes and these alarms read: the one place they are spelled.
LIFT_VS_HOLDOUT = "LiftVsHoldout"
DRIFT_SCORE = "DriftScore"
MODEL_AGE_DAYS = "ModelAgeDays"
MODEL_VERSION_DIMENSION = "ModelVersion"
VARIANT_DIMENSION = "Variant"


def quality_alarm_names(endpoint_name: str, variant_name: str) -> tuple[str, str, str]:
    """The quality alarms' names: `<endpoint>/<variant>/...`, one set per variant.

    Under `<endpoint>/`, as the rollback alarms (see alarm_names), so the IAM fence and the
    teardown cover them; per variant, so an A/B variant's alarms do not replace the other's.
    """
    return (
        f"{endpoint_name}/{variant_name}/quality-lift-vs-holdout",
        f"{endpoint_name}/{variant_name}/quality-drift",
        f"{endpoint_name}/{variant_name}/quality-model-age",
    )


def quality_alarm_calls(
    endpoint_name: str,
    variant_name: str,
    quality: QualityAlarms,
    topic_arn: str | None,
) -> list[Call]:
    """PutMetricAlarm for low lift over N days, drift above a threshold, and model age."""
    if not quality.model_version:
        return []
    lift_name, drift_name, age_name = quality_alarm_names(endpoint_name, variant_name)
    per_version = [{"Name": MODEL_VERSION_DIMENSION, "Value": quality.model_version}]
    per_variant = [*per_version, {"Name": VARIANT_DIMENSION, "Value": variant_name}]

    def alarm(name: str, metric: str, statistic: str, **rest: Any) -> dict[str, Any]:
        params = {
            "AlarmName": name,
            "Namespace": quality.namespace,
            "MetricName": metric,
            # The figures of one model version do not depend on the variant serving it, except
            # the lift, which is measured per variant.
            "Dimensions": per_variant if metric == LIFT_VS_HOLDOUT else per_version,
            "Statistic": statistic,
            "Period": DAY_SECONDS,
            # A day without a figure (too little traffic) is no evidence either way.
            "TreatMissingData": "notBreaching",
            **rest,
        }
        if topic_arn:
            params["AlarmActions"] = [topic_arn]
        return params

    version = quality.model_version
    lift = alarm(
        lift_name,
        LIFT_VS_HOLDOUT,
        "Average",
        AlarmDescription=(
            f"model {version} no better than the fallback (lift below {quality.min_lift:g}) "
            f"for {quality.lift_days} days: see docs/operations.md"
        ),
        Threshold=float(quality.min_lift),
        ComparisonOperator="LessThanThreshold",
        EvaluationPeriods=quality.lift_days,
        DatapointsToAlarm=quality.lift_days,
    )
    drift = alarm(
        drift_name,
        DRIFT_SCORE,
        "Maximum",
        AlarmDescription=(
            f"traffic drifted from model {version}'s training data (above "
            f"{quality.max_drift:g}): see docs/operations.md"
        ),
        Threshold=float(quality.max_drift),
        ComparisonOperator="GreaterThanThreshold",
        EvaluationPeriods=1,
    )
    age = alarm(
        age_name,
        MODEL_AGE_DAYS,
        "Maximum",
        AlarmDescription=(
            f"model {version}'s newest training event is over {quality.max_age_days:g} days "
            "old: retrain (make deploy), see docs/operations.md"
        ),
        Threshold=float(quality.max_age_days),
        ComparisonOperator="GreaterThanThreshold",
        EvaluationPeriods=1,
    )
    return [
        Call("cloudwatch", "PutMetricAlarm", lift, "quality alarm: lift against holdout"),
        Call("cloudwatch", "PutMetricAlarm", drift, "quality alarm: drift"),
        Call("cloudwatch", "PutMetricAlarm", age, "quality alarm: model age"),
    ]
