"""The CloudWatch alarms a `replace` rolls back on, and the variants' target-tracking autoscaling."""

import re
from typing import Any

from .plan import Call, Runner
from .spec import Alarms, Autoscaling

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# CloudWatch's statistics: the plain ones go in Statistic, percentiles in ExtendedStatistic.
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
PLAIN_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{0,2})?|100)$")
ERROR_RATE_MINUTES = 2


def alarm_names(endpoint_name: str) -> tuple[str, str]:
    """The names of the two alarms this tool creates for an endpoint.

    "/" cannot appear in an endpoint name, so `<endpoint>/*` in the IAM policy matches this
    endpoint's alarms and never another's (as `<endpoint>-*` would match `<endpoint>-staging`).
    """
    return (f"{endpoint_name}/invocation-5xx-rate", f"{endpoint_name}/model-latency-p99")


def _metric(endpoint_name: str, variant_name: str, name: str, stat: str) -> dict[str, Any]:
    return {
        "Metric": {
            "Namespace": "AWS/SageMaker",
            "MetricName": name,
            "Dimensions": [
                {"Name": "EndpointName", "Value": endpoint_name},
                {"Name": "VariantName", "Value": variant_name},
            ],
        },
        "Period": 60,
        "Stat": stat,
    }


def alarm_calls(endpoint_name: str, variant_name: str, alarms: Alarms) -> list[Call]:
    """PutMetricAlarm for the 5xx rate and for ModelLatency p99 above the thresholds.

    The rate, not a count: SageMaker publishes one set of invocation metrics per variant, so
    during a blue/green deployment the old fleet's answers count too, and one stray 5xx a minute
    must not cancel a good deployment. Minutes with fewer than `min_invocations` count as 0 %.
    """
    errors_name, latency_name = alarm_names(endpoint_name)
    errors = {
        "AlarmName": errors_name,
        "AlarmDescription": "5xx answers above a share of invocations: rolls a deployment back",
        "Metrics": [
            {
                "Id": "errors",
                "MetricStat": _metric(endpoint_name, variant_name, "Invocation5XXErrors", "Sum"),
                "ReturnData": False,
            },
            {
                "Id": "invocations",
                "MetricStat": _metric(endpoint_name, variant_name, "Invocations", "Sum"),
                "ReturnData": False,
            },
            {
                "Id": "error_rate",
                "Expression": (
                    f"IF(invocations >= {alarms.min_invocations}, 100 * errors / invocations, 0)"
                ),
                "Label": "5xx answers, % of invocations",
                "ReturnData": True,
            },
        ],
        "Threshold": float(alarms.max_5xx_percent),
        "ComparisonOperator": "GreaterThanThreshold",
        "EvaluationPeriods": ERROR_RATE_MINUTES,
        "DatapointsToAlarm": ERROR_RATE_MINUTES,
        # No invocations in a minute is no evidence against the new model.
        "TreatMissingData": "notBreaching",
    }
    latency = {
        "AlarmName": latency_name,
        "AlarmDescription": "p99 model latency too high: rolls a deployment back",
        "Namespace": "AWS/SageMaker",
        "MetricName": "ModelLatency",
        "Dimensions": _metric(endpoint_name, variant_name, "ModelLatency", "p99")["Metric"][
            "Dimensions"
        ],
        "Period": 60,
        "EvaluationPeriods": 1,
        "ExtendedStatistic": "p99",
        # ModelLatency is reported in microseconds.
        "Threshold": float(alarms.p99_latency_ms) * 1000.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }
    return [
        Call("cloudwatch", "PutMetricAlarm", errors, "rollback alarm: 5xx rate"),
        Call("cloudwatch", "PutMetricAlarm", latency, "rollback alarm: p99 latency"),
    ]


def statistic_problem(alarm: dict[str, Any]) -> str | None:
    """Why CloudWatch would refuse or never fill an alarm's statistic (None when it is sound)."""
    statistics = [alarm.get("Statistic"), alarm.get("ExtendedStatistic")]
    for metric in alarm.get("Metrics", []):
        if "MetricStat" in metric:
            statistics.append(metric["MetricStat"]["Stat"])
    if alarm.get("Statistic") and alarm.get("ExtendedStatistic"):
        return "an alarm takes Statistic or ExtendedStatistic, not both"
    if alarm.get("Statistic") and alarm["Statistic"] not in PLAIN_STATISTICS:
        return f"Statistic {alarm['Statistic']!r} is not one of {', '.join(PLAIN_STATISTICS)}"
    if alarm.get("ExtendedStatistic") and not PERCENTILE.match(alarm["ExtendedStatistic"]):
        return f"ExtendedStatistic {alarm['ExtendedStatistic']!r} is not a percentile (p0-p100)"
    if "Metrics" not in alarm and not any(statistics):
        return "a metric alarm needs Statistic or ExtendedStatistic"
    return None


def autoscaling_calls(endpoint_name: str, variant_name: str, scaling: Autoscaling) -> list[Call]:
    """RegisterScalableTarget and a target-tracking PutScalingPolicy for one variant."""
    resource_id = scalable_resource(endpoint_name, variant_name)
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource_id,
        "ScalableDimension": SCALABLE_DIMENSION,
        "MinCapacity": scaling.min_count,
        "MaxCapacity": scaling.max_count,
    }
    policy = {
        "PolicyName": f"{endpoint_name}-{variant_name}-invocations",
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource_id,
        "ScalableDimension": SCALABLE_DIMENSION,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(scaling.invocations_per_instance),
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": scaling.scale_in_cooldown,
            "ScaleOutCooldown": scaling.scale_out_cooldown,
        },
    }
    return [
        Call("application-autoscaling", "RegisterScalableTarget", target, "autoscaling range"),
        Call("application-autoscaling", "PutScalingPolicy", policy, "target tracking"),
    ]


def scalable_resource(endpoint_name: str, variant_name: str) -> str:
    """Application Auto Scaling's ResourceId for a variant."""
    return f"endpoint/{endpoint_name}/variant/{variant_name}"


def scaled_variants(
    runner: Runner, endpoint_name: str, variant_names: list[str]
) -> dict[str, dict[str, Any]]:
    """The variants registered as scalable targets: name -> {"target": ..., "policies": [...]}."""
    if not variant_names:
        return {}
    resources = {scalable_resource(endpoint_name, name): name for name in variant_names}
    answer = runner.read(
        "application-autoscaling",
        "DescribeScalableTargets",
        ServiceNamespace="sagemaker",
        ResourceIds=sorted(resources),
        ScalableDimension=SCALABLE_DIMENSION,
    )
    found: dict[str, dict[str, Any]] = {}
    for target in answer.get("ScalableTargets", []):
        policies = runner.read(
            "application-autoscaling",
            "DescribeScalingPolicies",
            ServiceNamespace="sagemaker",
            ResourceId=target["ResourceId"],
            ScalableDimension=SCALABLE_DIMENSION,
        ).get("ScalingPolicies", [])
        found[resources[target["ResourceId"]]] = {"target": target, "policies": policies}
    return found


def deregister_call(endpoint_name: str, variant_name: str, why: str) -> Call:
    """DeregisterScalableTarget (which deletes the target's policies with it)."""
    return Call(
        "application-autoscaling",
        "DeregisterScalableTarget",
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": scalable_resource(endpoint_name, variant_name),
            "ScalableDimension": SCALABLE_DIMENSION,
        },
        why,
    )


def reregister_calls(scaled: dict[str, Any], why: str) -> list[Call]:
    """The calls that register a deregistered target again, with the policies it had."""
    target = scaled["target"]
    calls = [
        Call(
            "application-autoscaling",
            "RegisterScalableTarget",
            {
                "ServiceNamespace": "sagemaker",
                "ResourceId": target["ResourceId"],
                "ScalableDimension": SCALABLE_DIMENSION,
                "MinCapacity": target["MinCapacity"],
                "MaxCapacity": target["MaxCapacity"],
            },
            why,
        )
    ]
    for policy in scaled["policies"]:
        params = {
            "PolicyName": policy["PolicyName"],
            "ServiceNamespace": "sagemaker",
            "ResourceId": target["ResourceId"],
            "ScalableDimension": SCALABLE_DIMENSION,
            "PolicyType": policy["PolicyType"],
        }
        for key in (
            "TargetTrackingScalingPolicyConfiguration",
            "StepScalingPolicyConfiguration",
        ):
            if key in policy:
                params[key] = policy[key]
        calls.append(Call("application-autoscaling", "PutScalingPolicy", params, why))
    return calls
