"""The CloudWatch alarms a `replace` rolls back on, and the variant's target-tracking autoscaling."""

from .plan import Call
from .spec import Alarms, Autoscaling

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def alarm_names(endpoint_name: str) -> tuple[str, str]:
    """The names of the two alarms this tool creates for an endpoint."""
    return (f"{endpoint_name}-invocation-5xx", f"{endpoint_name}-model-latency-p99")


def alarm_calls(endpoint_name: str, variant_name: str, alarms: Alarms) -> list[Call]:
    """PutMetricAlarm for 5xx errors and for ModelLatency p99 above the threshold."""
    errors_name, latency_name = alarm_names(endpoint_name)
    dimensions = [
        {"Name": "EndpointName", "Value": endpoint_name},
        {"Name": "VariantName", "Value": variant_name},
    ]
    common = {
        "Namespace": "AWS/SageMaker",
        "Dimensions": dimensions,
        "Period": 60,
        "EvaluationPeriods": 1,
        # No invocations in a minute is no evidence against the new model.
        "TreatMissingData": "notBreaching",
    }
    errors = {
        "AlarmName": errors_name,
        "AlarmDescription": "5xx answers from the endpoint: rolls a deployment back",
        "MetricName": "Invocation5XXErrors",
        "Statistic": "Sum",
        "Threshold": float(alarms.max_5xx),
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        **common,
    }
    latency = {
        "AlarmName": latency_name,
        "AlarmDescription": "p99 model latency too high: rolls a deployment back",
        "MetricName": "ModelLatency",
        "ExtendedStatistic": "p99",
        # ModelLatency is reported in microseconds.
        "Threshold": float(alarms.p99_latency_ms) * 1000.0,
        "ComparisonOperator": "GreaterThanThreshold",
        **common,
    }
    return [
        Call("cloudwatch", "PutMetricAlarm", errors, "rollback alarm: 5xx"),
        Call("cloudwatch", "PutMetricAlarm", latency, "rollback alarm: p99 latency"),
    ]


def autoscaling_calls(endpoint_name: str, variant_name: str, scaling: Autoscaling) -> list[Call]:
    """RegisterScalableTarget and a target-tracking PutScalingPolicy for one variant."""
    resource_id = f"endpoint/{endpoint_name}/variant/{variant_name}"
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
