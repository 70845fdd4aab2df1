"""Moving traffic: UpdateEndpoint with a blue/green DeploymentConfig, and variant weights."""

from typing import Any

from .plan import Call
from .spec import DeploySpec, TrafficShift

_ROUTING_TYPES = {"all-at-once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}


def deployment_config(traffic: TrafficShift, alarm_names: list[str]) -> dict[str, Any]:
    """SageMaker's DeploymentConfig: blue/green routing, and rollback on the named alarms."""
    routing: dict[str, Any] = {"Type": _ROUTING_TYPES[traffic.kind]}
    if traffic.kind != "all-at-once":
        routing["WaitIntervalInSeconds"] = traffic.wait_seconds
        size = {"Type": "CAPACITY_PERCENT", "Value": traffic.percent}
        routing["CanarySize" if traffic.kind == "canary" else "LinearStepSize"] = size
    else:
        routing["WaitIntervalInSeconds"] = 0
    policy: dict[str, Any] = {
        "TrafficRoutingConfiguration": routing,
        "TerminationWaitInSeconds": traffic.termination_wait_seconds,
    }
    if traffic.maximum_seconds:
        policy["MaximumExecutionTimeoutInSeconds"] = traffic.maximum_seconds
    config: dict[str, Any] = {"BlueGreenUpdatePolicy": policy}
    if alarm_names:
        config["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": name} for name in alarm_names]
        }
    return config


def update_endpoint(
    spec: DeploySpec,
    alarm_names: list[str],
    *,
    shift: bool = True,
    retain: bool = False,
    why: str = "",
) -> Call:
    """UpdateEndpoint to the new config; with the blue/green policy unless `shift` is False.

    `retain` keeps every existing variant's running instance count and weight
    (RetainAllVariantProperties, whose default is false).
    """
    params: dict[str, Any] = {
        "EndpointName": spec.endpoint_name,
        "EndpointConfigName": spec.config_name,
    }
    if shift:
        params["DeploymentConfig"] = deployment_config(spec.traffic, alarm_names)
    if retain:
        params["RetainAllVariantProperties"] = True
    return Call("sagemaker", "UpdateEndpoint", params, why)


def update_weights(endpoint_name: str, weights: dict[str, float]) -> Call:
    """UpdateEndpointWeightsAndCapacities: move traffic between the endpoint's variants."""
    desired = [
        {"VariantName": name, "DesiredWeight": float(weight)}
        for name, weight in sorted(weights.items())
    ]
    return Call(
        "sagemaker",
        "UpdateEndpointWeightsAndCapacities",
        {"EndpointName": endpoint_name, "DesiredWeightsAndCapacities": desired},
        "move traffic between variants",
    )
