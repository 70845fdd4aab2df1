"""The four things `python -m model.deploy` does: create, replace, add a variant, move weights.

Each mode reads what exists, makes only what is missing (names are deterministic, see spec.py),
then waits. A re-run after Ctrl-C or a timeout therefore resumes instead of starting over.
"""

from dataclasses import dataclass
from typing import Any

from .checks import check_inputs
from .errors import AlreadyExists, CommandError, NotFound, RolledBack
from .monitoring import alarm_calls, alarm_names, autoscaling_calls
from .plan import Call, Runner
from .resources import (
    REPLACES_TAG,
    create_endpoint,
    create_endpoint_config,
    create_model,
    existing_variants,
    kept_settings,
    production_variant,
    with_current_capacity,
)
from .spec import DeploySpec
from .traffic import update_endpoint, update_weights
from .waiting import DEFAULT_POLL, DEFAULT_TIMEOUT, wait_for_endpoint

CHANGING = {"Creating", "Updating", "SystemUpdating", "RollingBack"}


@dataclass(frozen=True)
class Waiting:
    """Whether and how long to wait for the endpoint."""

    enabled: bool = True
    timeout_seconds: float = DEFAULT_TIMEOUT
    poll_seconds: float = DEFAULT_POLL


def deploy(spec: DeploySpec, runner: Runner, waiting: Waiting | None = None) -> dict[str, Any]:
    """Run `spec.mode`; the endpoint's final description ({} in a dry run or without a wait)."""
    waiting = waiting or Waiting()
    endpoint = runner.read_or_none("sagemaker", "DescribeEndpoint", EndpointName=spec.endpoint_name)
    if spec.mode == "create" or (
        spec.mode == "replace" and endpoint is None and spec.create_if_missing
    ):
        return _create(spec, runner, endpoint, waiting)
    if endpoint is None:
        raise NotFound(
            f"endpoint {spec.endpoint_name} does not exist: use --mode create"
            + (" (or --create-if-missing)" if spec.mode == "replace" else "")
        )
    if spec.mode == "replace":
        return _replace(spec, runner, endpoint, waiting)
    if spec.mode == "add":
        return _add(spec, runner, endpoint, waiting)
    if spec.mode == "weights":
        runner.call(update_weights(spec.endpoint_name, spec.weights))
        return _wait(spec, runner, waiting)
    raise CommandError(f"unknown mode {spec.mode!r}")


def _create(
    spec: DeploySpec, runner: Runner, endpoint: dict[str, Any] | None, waiting: Waiting
) -> dict[str, Any]:
    if endpoint is not None:
        if endpoint["EndpointConfigName"] != spec.config_name:
            raise AlreadyExists(
                f"endpoint {spec.endpoint_name} already exists (config "
                f"{endpoint['EndpointConfigName']}): use --mode replace for a new model, "
                "or --mode add for a second variant"
            )
        runner.note(f"endpoint {spec.endpoint_name} already uses {spec.config_name}: resuming")
        return _finish(spec, runner, waiting)
    check_inputs(runner, spec)
    _ensure_model(spec, runner)
    _ensure_config(spec, runner, [production_variant(spec)], "the endpoint's first config")
    _put_alarms(spec, runner)
    runner.call(create_endpoint(spec))
    return _finish(spec, runner, waiting)


def _replace(
    spec: DeploySpec, runner: Runner, endpoint: dict[str, Any], waiting: Waiting
) -> dict[str, Any]:
    current = endpoint["EndpointConfigName"]
    if current == spec.config_name and endpoint["EndpointStatus"] == "InService":
        runner.note(f"endpoint {spec.endpoint_name} already serves {current}")
        described = _finish(spec, runner, waiting)
        _retire_left_over(spec, runner)
        return described
    resuming = _resuming(spec, runner, endpoint)
    old_config = runner.read("sagemaker", "DescribeEndpointConfig", EndpointConfigName=current)
    spec = with_current_capacity(spec, endpoint, old_config)
    rollback_alarms = list(spec.alarms.names)
    if spec.alarms.create:
        rollback_alarms += [n for n in alarm_names(spec.endpoint_name) if n not in rollback_alarms]
    if not resuming:
        check_inputs(runner, spec)
        _ensure_model(spec, runner)
        _ensure_config(
            spec, runner, [production_variant(spec)], f"replaces {current}",
            inherited=kept_settings(old_config), replaces=current,
        )  # fmt: skip
        # The alarms must exist before the update that rolls back on them.
        _put_alarms(spec, runner)
        runner.call(
            update_endpoint(
                spec,
                rollback_alarms,
                why=f"blue/green {spec.traffic.kind} from {current}",
            )
        )
    described = _finish(spec, runner, waiting, alarms=rollback_alarms)
    if described or runner.dry_run:
        _retire(spec, runner, old_config, keep_models=set())
    return described


def _add(
    spec: DeploySpec, runner: Runner, endpoint: dict[str, Any], waiting: Waiting
) -> dict[str, Any]:
    current = endpoint["EndpointConfigName"]
    if current == spec.config_name and endpoint["EndpointStatus"] == "InService":
        runner.note(f"endpoint {spec.endpoint_name} already has variant {spec.variant_name}")
        described = _finish(spec, runner, waiting)
        _retire_left_over(spec, runner)
        return described
    resuming = _resuming(spec, runner, endpoint)
    old_config = runner.read("sagemaker", "DescribeEndpointConfig", EndpointConfigName=current)
    variants = existing_variants(old_config)
    if not resuming:
        if spec.variant_name in {v["VariantName"] for v in variants}:
            raise CommandError(
                f"endpoint {spec.endpoint_name} already has a variant {spec.variant_name}: "
                "choose another --variant-name, or use --mode replace"
            )
        check_inputs(runner, spec)
        _ensure_model(spec, runner)
        _ensure_config(
            spec, runner, [*variants, production_variant(spec)], f"{current} plus a variant",
            inherited=kept_settings(old_config), replaces=current,
        )  # fmt: skip
        runner.call(update_endpoint(spec, [], shift=False, why=f"add {spec.variant_name}"))
    described = _finish(spec, runner, waiting)
    if described or runner.dry_run:
        # The old config's models still serve in the new one: only the config itself goes.
        _retire(spec, runner, old_config, keep_models={v["ModelName"] for v in variants})
    return described


def _resuming(spec: DeploySpec, runner: Runner, endpoint: dict[str, Any]) -> bool:
    """Whether the endpoint is already moving to our config (a re-run after an interruption)."""
    status = endpoint["EndpointStatus"]
    if status == "InService":
        return False
    pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if status in CHANGING and pending == spec.config_name:
        runner.note(f"endpoint {spec.endpoint_name} is {status} to {spec.config_name}: resuming")
        return True
    if status == "Failed":
        raise CommandError(
            f"endpoint {spec.endpoint_name} is Failed: "
            f"{endpoint.get('FailureReason') or 'no FailureReason given'}; delete it and use "
            "--mode create"
        )
    raise CommandError(
        f"endpoint {spec.endpoint_name} is {status} (another change is under way): "
        "re-run once it is InService"
    )


def _ensure_model(spec: DeploySpec, runner: Runner) -> None:
    if not spec.role_arn or not spec.image:
        raise CommandError("--role and --image are needed to make a model")
    if runner.read_or_none("sagemaker", "DescribeModel", ModelName=spec.model_name):
        runner.note(f"model {spec.model_name} exists: reusing it")
        return
    runner.call(create_model(spec))


def _ensure_config(
    spec: DeploySpec,
    runner: Runner,
    variants: list[dict[str, Any]],
    why: str,
    inherited: dict[str, Any] | None = None,
    replaces: str | None = None,
) -> None:
    name = spec.config_name
    if runner.read_or_none("sagemaker", "DescribeEndpointConfig", EndpointConfigName=name):
        runner.note(f"endpoint config {name} exists: reusing it")
        return
    call = create_endpoint_config(spec, variants, why, replaces)
    if inherited:
        call = Call(call.service, call.operation, {**inherited, **call.params}, call.why)
    runner.call(call)


def _put_alarms(spec: DeploySpec, runner: Runner) -> None:
    if spec.alarms.create:
        for call in alarm_calls(spec.endpoint_name, spec.variant_name, spec.alarms):
            runner.call(call)


def _wait(spec: DeploySpec, runner: Runner, waiting: Waiting) -> dict[str, Any]:
    if runner.dry_run:
        runner.note(f"[dry-run] would wait for {spec.endpoint_name} to be InService")
        return {}
    if not waiting.enabled:
        runner.note(f"not waiting: re-run the command to wait for {spec.endpoint_name}")
        return {}
    return wait_for_endpoint(
        runner,
        spec.endpoint_name,
        timeout_seconds=waiting.timeout_seconds,
        poll_seconds=waiting.poll_seconds,
    )


def _finish(
    spec: DeploySpec,
    runner: Runner,
    waiting: Waiting,
    *,
    alarms: list[str] | None = None,
) -> dict[str, Any]:
    """Wait, detect a rollback, then set up autoscaling (which needs an InService endpoint)."""
    described = _wait(spec, runner, waiting)
    if described and described["EndpointConfigName"] != spec.config_name:
        reason = described.get("FailureReason") or "a rollback alarm fired or the new fleet failed"
        raise RolledBack(
            f"SageMaker rolled back: endpoint {spec.endpoint_name} still serves "
            f"{described['EndpointConfigName']}, not {spec.config_name} ({reason}; alarms: "
            f"{', '.join(alarms or []) or 'none'}); model {spec.model_name} is kept to inspect"
        )
    if spec.autoscaling and not spec.serverless and (described or runner.dry_run):
        for call in autoscaling_calls(spec.endpoint_name, spec.variant_name, spec.autoscaling):
            runner.call(call)
    elif spec.autoscaling and not described:
        runner.note("autoscaling is set up after the wait: re-run without --no-wait to finish")
    return described


def _retire_left_over(spec: DeploySpec, runner: Runner) -> None:
    """Retire the config ours replaced, when a run was interrupted after the swap."""
    if runner.dry_run:
        return
    config = runner.read("sagemaker", "DescribeEndpointConfig", EndpointConfigName=spec.config_name)
    listed = runner.read("sagemaker", "ListTags", ResourceArn=config["EndpointConfigArn"])
    replaced = {t["Key"]: t["Value"] for t in listed.get("Tags", [])}.get(REPLACES_TAG)
    if not replaced:
        return
    old_config = runner.read_or_none(
        "sagemaker", "DescribeEndpointConfig", EndpointConfigName=replaced
    )
    if old_config:
        still_used = {v["ModelName"] for v in config.get("ProductionVariants", [])}
        _retire(spec, runner, old_config, keep_models=still_used)


def _retire(
    spec: DeploySpec, runner: Runner, old_config: dict[str, Any], keep_models: set[str]
) -> None:
    """Delete (or, with --archive, keep) the config and models the endpoint no longer uses."""
    name = old_config["EndpointConfigName"]
    if name == spec.config_name:
        return
    old_models = {v["ModelName"] for v in old_config.get("ProductionVariants", [])}
    retired = sorted(old_models - keep_models - {spec.model_name})
    if spec.archive:
        runner.note(f"archived (kept): endpoint config {name}, models {', '.join(retired) or '-'}")
        return
    runner.call(Call("sagemaker", "DeleteEndpointConfig", {"EndpointConfigName": name}, "retired"))
    for model in retired:
        runner.call(Call("sagemaker", "DeleteModel", {"ModelName": model}, "retired"))
