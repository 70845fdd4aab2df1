"""`--mode delete`: the endpoint and everything this tool made for it, in the order AWS allows.

What this tool made carries the endpoint's tag (spec.ENDPOINT_TAG); a resource without it, made
by hand or by another tool, is left alone. The scalable targets go first (which deletes their
policies and the target-tracking alarms), then our alarms, the endpoint, and, once the endpoint
is gone, its configs and models: a config in use by a live endpoint must not be deleted
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpointConfig.html).
"""

from typing import Any

from .monitoring import deregister_call, scaled_variants
from .plan import Call, Runner
from .spec import ENDPOINT_TAG, DeploySpec
from .waiting import poll


def delete(
    spec: DeploySpec,
    runner: Runner,
    endpoint: dict[str, Any] | None,
    timeout_seconds: float,
    poll_seconds: float,
) -> None:
    """Delete the endpoint, its scalable targets, alarms, configs and models."""
    name = spec.endpoint_name
    configs = _tagged(runner, name, "ListEndpointConfigs", "EndpointConfigs", "EndpointConfig")
    models = _tagged(runner, name, "ListModels", "Models", "Model")
    variants: set[str] = set()
    for config_name in configs:
        config = runner.read_or_none(
            "sagemaker", "DescribeEndpointConfig", EndpointConfigName=config_name
        )
        variants |= {v["VariantName"] for v in (config or {}).get("ProductionVariants", [])}
    for running in (endpoint or {}).get("ProductionVariants", []):
        variants.add(running["VariantName"])
    scaled = scaled_variants(runner, name, sorted(variants))
    # Every alarm this tool makes is named "<endpoint>/...": the rollback ones and each
    # variant's quality ones.
    alarms = runner.read("cloudwatch", "DescribeAlarms", AlarmNamePrefix=f"{name}/")
    ours = sorted(a["AlarmName"] for a in alarms.get("MetricAlarms", []))
    if not (endpoint or configs or models or scaled or ours):
        runner.note(f"nothing to delete: no endpoint {name}, and nothing tagged for it")
        return
    for variant in sorted(scaled):
        runner.call(deregister_call(name, variant, "autoscaling (its policies go with it)"))
    if ours:
        runner.call(Call("cloudwatch", "DeleteAlarms", {"AlarmNames": ours}, "our alarms"))
    if endpoint is not None:
        runner.call(Call("sagemaker", "DeleteEndpoint", {"EndpointName": name}, "the endpoint"))
        if not runner.dry_run:
            _wait_until_gone(runner, name, timeout_seconds, poll_seconds)
    for config_name in configs:
        runner.call(
            Call(
                "sagemaker",
                "DeleteEndpointConfig",
                {"EndpointConfigName": config_name},
                "made for it",
            )
        )
    for model in models:
        runner.call(Call("sagemaker", "DeleteModel", {"ModelName": model}, "made for it"))


def _tagged(runner: Runner, endpoint_name: str, operation: str, key: str, kind: str) -> list[str]:
    """Names of the resources whose name contains the endpoint's and that carry its tag."""
    found = []
    token = None
    while True:
        params: dict[str, Any] = {"NameContains": endpoint_name}
        if token:
            params["NextToken"] = token
        page = runner.read("sagemaker", operation, **params)
        for item in page.get(key, []):
            tags = runner.read("sagemaker", "ListTags", ResourceArn=item[f"{kind}Arn"])
            values = {t["Key"]: t["Value"] for t in tags.get("Tags", [])}
            if values.get(ENDPOINT_TAG) == endpoint_name:
                found.append(item[f"{kind}Name"])
        token = page.get("NextToken")
        if not token:
            return sorted(found)


def _wait_until_gone(
    runner: Runner, name: str, timeout_seconds: float, poll_seconds: float
) -> None:
    def fetch() -> dict[str, Any]:
        found = runner.read_or_none("sagemaker", "DescribeEndpoint", EndpointName=name)
        return found or {"EndpointStatus": "Deleted"}

    poll(
        fetch,
        lambda answer: answer["EndpointStatus"],
        lambda answer: answer["EndpointStatus"] == "Deleted",
        label=f"endpoint {name}",
        runner=runner,
        timeout_seconds=timeout_seconds,
        poll_seconds=poll_seconds,
    )
