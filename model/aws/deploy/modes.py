"""What `python -m model.deploy` does: create, replace, add a variant, move weights, delete.

Each mode reads what exists, makes only what is missing (names are deterministic, see spec.py),
then waits. A re-run after Ctrl-C or a timeout therefore resumes instead of starting over.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import AlreadyExists, CommandError, NotFound, RolledBack
from .existing import check_same_config, check_same_model
from .monitoring import (
    alarm_calls,
    alarm_names,
    autoscaling_calls,
    deregister_call,
    reregister_calls,
    scaled_variants,
)
from .plan import Call, Retry, Runner
from .preflight import preflight
from .quality_alarms import quality_alarm_calls
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
from .rules import RULES, check_rules
from .spec import DEFAULT_VARIANT, DeploySpec
from .teardown import delete
from .traffic import update_endpoint, update_weights
from .waiting import DEFAULT_POLL, DEFAULT_TIMEOUT, wait_for_endpoint

CHANGING = {"Creating", "Updating", "SystemUpdating", "RollingBack"}
# CreateEndpoint and UpdateEndpoint read the new config with an eventually consistent read, and
# AWS advises a retry when it is not there yet:
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html
CONFIG_NOT_YET_VISIBLE = Retry(
    when=lambda err: (
        err.response.get("Error", {}).get("Code") == "ValidationException"
        and "endpoint configuration" in str(err.response["Error"].get("Message", "")).lower()
        and "could not find" in str(err.response["Error"].get("Message", "")).lower()
    )
)


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
    if spec.mode == "delete":
        delete(spec, runner, endpoint, waiting.timeout_seconds, waiting.poll_seconds)
        return {}
    if spec.mode == "weights":
        if endpoint is None:
            raise NotFound(f"endpoint {spec.endpoint_name} does not exist")
        check_rules(spec)
        runner.call(update_weights(spec.endpoint_name, spec.weights))
        return _wait(spec, runner, waiting)
    creating = spec.mode == "create" or (
        spec.mode == "replace" and endpoint is None and spec.create_if_missing
    )
    if endpoint is None and not creating:
        raise NotFound(
            f"endpoint {spec.endpoint_name} does not exist: use --mode create"
            + (" (or --create-if-missing)" if spec.mode == "replace" else "")
        )
    old_config = None
    if endpoint is not None:
        old_config = runner.read(
            "sagemaker", "DescribeEndpointConfig", EndpointConfigName=endpoint["EndpointConfigName"]
        )
    spec = _resolve(spec, runner, endpoint, old_config, creating)
    if creating:
        return _create(spec, runner, endpoint, waiting)
    assert endpoint is not None and old_config is not None
    if spec.mode == "replace":
        return _replace(spec, runner, endpoint, old_config, waiting)
    if spec.mode == "add":
        return _add(spec, runner, endpoint, old_config, waiting)
    raise CommandError(f"unknown mode {spec.mode!r}")


def _resolve(
    spec: DeploySpec,
    runner: Runner,
    endpoint: dict[str, Any] | None,
    old_config: dict[str, Any] | None,
    creating: bool,
) -> DeploySpec:
    """`spec` with what it left to the endpoint filled in, checked against the service's rules."""
    variant = spec.variant_name
    weight = spec.initial_weight
    if creating:
        variant = variant or DEFAULT_VARIANT
        weight = 1.0 if weight is None else weight
    elif spec.mode == "replace":
        assert endpoint is not None and old_config is not None
        variant = variant or _only_variant(spec, old_config)
        names = [v["VariantName"] for v in old_config.get("ProductionVariants", [])]
        if variant not in names:
            raise CommandError(
                f"endpoint {spec.endpoint_name} has no variant {variant} (it has "
                f"{', '.join(names)}): a blue/green replace keeps a variant's name; use "
                "--variant-name to pick one, or --mode add for a new one"
            )
        weight = _current_weight(endpoint, old_config, variant) if weight is None else weight
    elif spec.mode == "add":
        weight = 0.0 if weight is None else weight
    spec = dataclasses.replace(spec, variant_name=variant, initial_weight=weight)
    if spec.mode == "replace" and endpoint is not None and old_config is not None:
        spec = with_current_capacity(spec, endpoint, old_config)
        spec = _fit_traffic_to_fleet(spec, runner)
    spec = dataclasses.replace(spec, content=preflight(runner, spec))
    check_rules(spec)
    return spec


def _only_variant(spec: DeploySpec, config: dict[str, Any]) -> str:
    names = [v["VariantName"] for v in config.get("ProductionVariants", [])]
    if len(names) == 1:
        return names[0]
    if DEFAULT_VARIANT in names:
        return DEFAULT_VARIANT
    raise CommandError(
        f"endpoint {spec.endpoint_name} has variants {', '.join(names)}: choose the one to "
        "replace with --variant-name"
    )


def _current_weight(endpoint: dict[str, Any], config: dict[str, Any], variant: str) -> float:
    for running in endpoint.get("ProductionVariants", []):
        if running["VariantName"] == variant and running.get("CurrentWeight") is not None:
            return float(running["CurrentWeight"])
    for configured in config.get("ProductionVariants", []):
        if configured["VariantName"] == variant:
            return float(configured.get("InitialVariantWeight", 1.0))
    return 1.0


def _fit_traffic_to_fleet(spec: DeploySpec, runner: Runner) -> DeploySpec:
    """All at once, with a message, when asked to and the fleet is too small for the steps."""
    if spec.traffic.small_fleet != "all-at-once" or spec.traffic.kind == "all-at-once":
        return spec
    for rule in RULES:
        if rule.name in ("canary-size", "linear-step", "serverless-traffic-shifting"):
            broken = rule.broken_by(spec)
            if broken:
                runner.note(f"shifting all at once instead: {broken} ({rule.page})")
                traffic = dataclasses.replace(spec.traffic, kind="all-at-once")
                return dataclasses.replace(spec, traffic=traffic)
    return spec


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
    model = create_model(spec)
    variant = production_variant(spec, weight=spec.initial_weight or 0.0)
    config = _config_call(spec, [variant], "the endpoint's first config")
    endpoint_call = create_endpoint(spec)
    _check_all(runner, [model, config, *_alarm_calls(spec), endpoint_call])
    _ensure_model(spec, runner, model)
    _ensure_config(spec, runner, config)
    _put_alarms(spec, runner)
    runner.call(endpoint_call, retry=CONFIG_NOT_YET_VISIBLE)
    return _finish(spec, runner, waiting)


def replacement_variants(
    spec: DeploySpec, endpoint: dict[str, Any], old_config: dict[str, Any]
) -> list[dict[str, Any]]:
    """The new config's variants: ours with the new model, every other one as it runs now."""
    variants = []
    for kept in existing_variants(old_config, endpoint):
        name = kept["VariantName"]
        if name in spec.drop_variants:
            continue
        if name == spec.variant:
            variants.append(production_variant(spec, weight=spec.initial_weight or 0.0))
        else:
            variants.append(kept)
    return variants


def _already_serves(spec: DeploySpec, endpoint: dict[str, Any]) -> bool:
    """A re-run: the endpoint is in service on the config this run would make."""
    return (
        endpoint["EndpointConfigName"] == spec.config_name
        and endpoint["EndpointStatus"] == "InService"
    )


def _finish_again(spec: DeploySpec, runner: Runner, waiting: Waiting) -> dict[str, Any]:
    """A re-run's end: what an interrupted run left to do (alarms, autoscaling, old resources)."""
    described = _finish(spec, runner, waiting)
    _retire_left_over(spec, runner)
    return described


def _replace(
    spec: DeploySpec,
    runner: Runner,
    endpoint: dict[str, Any],
    old_config: dict[str, Any],
    waiting: Waiting,
) -> dict[str, Any]:
    if _already_serves(spec, endpoint):
        runner.note(f"endpoint {spec.endpoint_name} already serves {spec.config_name}")
        return _finish_again(spec, runner, waiting)
    current = endpoint["EndpointConfigName"]
    if spec.variant in spec.drop_variants:
        raise CommandError(f"--drop-variant {spec.variant} is the variant being replaced")
    unknown = set(spec.drop_variants) - {v["VariantName"] for v in old_config["ProductionVariants"]}
    if unknown:
        raise CommandError(
            f"--drop-variant {', '.join(sorted(unknown))}: endpoint {spec.endpoint_name} has no "
            "such variant"
        )
    resuming = _resuming(spec, runner, endpoint)
    variants = replacement_variants(spec, endpoint, old_config)
    paused = _autoscaling_in_the_way(spec, runner, old_config, variants)
    rollback_alarms = list(spec.alarms.names)
    if spec.alarms.create:
        rollback_alarms += [n for n in alarm_names(spec.endpoint_name) if n not in rollback_alarms]
    if not resuming:
        model = create_model(spec)
        config = _config_call(
            spec, variants, f"replaces {current}",
            inherited=kept_settings(old_config), replaces=current,
        )  # fmt: skip
        pauses = [
            deregister_call(
                spec.endpoint_name,
                name,
                "SageMaker refuses this update while the variant is a scalable target",
            )
            for name in paused
        ]
        update = update_endpoint(
            spec, rollback_alarms, why=f"blue/green {spec.traffic.kind} from {current}"
        )
        _check_all(runner, [model, config, *_alarm_calls(spec), *pauses, update])
        _ensure_model(spec, runner, model)
        _ensure_config(spec, runner, config)
        # The alarms must exist before the update that rolls back on them.
        _put_alarms(spec, runner)
        for call in pauses:
            runner.call(call)
        runner.call(update, retry=CONFIG_NOT_YET_VISIBLE)
    try:
        described = _finish(spec, runner, waiting, alarms=rollback_alarms)
    except RolledBack:
        # The old config serves again, with the variants it had: scale them as before.
        _resume_autoscaling(spec, runner, paused, keep=set(paused))
        raise
    if described or runner.dry_run:
        still_there = {v["VariantName"] for v in variants}
        _resume_autoscaling(spec, runner, paused, keep=still_there)
        _retire(spec, runner, old_config, keep_models={v["ModelName"] for v in variants})
    return described


def _autoscaling_in_the_way(
    spec: DeploySpec,
    runner: Runner,
    old_config: dict[str, Any],
    variants: list[dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """The scalable targets SageMaker needs deregistered for this update, with their settings.

    It refuses an update that changes an autoscaled variant's instance type or removes it:
    https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html
    """
    old = {v["VariantName"]: v for v in old_config.get("ProductionVariants", [])}
    new = {v["VariantName"]: v for v in variants}
    scaled = scaled_variants(runner, spec.endpoint_name, sorted(old))
    paused = {}
    for name, settings in scaled.items():
        removed = name not in new
        if removed or new[name].get("InstanceType") != old[name].get("InstanceType"):
            runner.note(
                f"variant {name} is autoscaled and "
                + ("goes" if removed else "changes instance type")
                + ": its scalable target is deregistered for the update"
                + ("" if removed else " and registered again after it")
            )
            paused[name] = settings
    return paused


def _resume_autoscaling(
    spec: DeploySpec, runner: Runner, paused: dict[str, dict[str, Any]], keep: set[str]
) -> None:
    for name, settings in paused.items():
        if name not in keep or (name == spec.variant and spec.autoscaling):
            continue  # gone, or set up anew from --autoscale-* by _finish
        for call in reregister_calls(settings, f"autoscaling of {name} as it was"):
            runner.call(call)


def _add(
    spec: DeploySpec,
    runner: Runner,
    endpoint: dict[str, Any],
    old_config: dict[str, Any],
    waiting: Waiting,
) -> dict[str, Any]:
    if _already_serves(spec, endpoint):
        runner.note(f"endpoint {spec.endpoint_name} already has variant {spec.variant}")
        return _finish_again(spec, runner, waiting)
    current = endpoint["EndpointConfigName"]
    resuming = _resuming(spec, runner, endpoint)
    variants = existing_variants(old_config, endpoint)
    if not resuming:
        if spec.variant in {v["VariantName"] for v in variants}:
            raise CommandError(
                f"endpoint {spec.endpoint_name} already has a variant {spec.variant}: "
                "choose another --variant-name, or use --mode replace"
            )
        model = create_model(spec)
        new_variant = production_variant(spec, weight=spec.initial_weight or 0.0)
        config = _config_call(
            spec, [*variants, new_variant], f"{current} plus a variant",
            inherited=kept_settings(old_config), replaces=current,
        )  # fmt: skip
        # The kept variants keep their running instance counts and weights (autoscaling and
        # --mode weights moved them); only the new variant takes its settings from the config.
        update = update_endpoint(spec, [], shift=False, retain=True, why=f"add {spec.variant}")
        _check_all(runner, [model, config, update])
        _ensure_model(spec, runner, model)
        _ensure_config(spec, runner, config)
        runner.call(update, retry=CONFIG_NOT_YET_VISIBLE)
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
            f"{endpoint.get('FailureReason') or 'no FailureReason given'}; delete it "
            "(--mode delete) and use --mode create"
        )
    raise CommandError(
        f"endpoint {spec.endpoint_name} is {status} (another change is under way): "
        "re-run once it is InService"
    )


def _check_all(runner: Runner, calls: list[Call]) -> None:
    """Hold every write of a mode to its API model before the first one is made."""
    for call in calls:
        runner.enforce_rules(call)


def _ensure_model(spec: DeploySpec, runner: Runner, call: Call) -> None:
    if not spec.role_arn or not spec.image:
        raise CommandError("--role and --image are needed to make a model")
    existing = runner.read_or_none("sagemaker", "DescribeModel", ModelName=spec.model_name)
    if existing:
        check_same_model(existing, call.params)
        runner.note(f"model {spec.model_name} exists: reusing it")
        return
    runner.call(call)


def _config_call(
    spec: DeploySpec,
    variants: list[dict[str, Any]],
    why: str,
    inherited: dict[str, Any] | None = None,
    replaces: str | None = None,
) -> Call:
    call = create_endpoint_config(spec, variants, why, replaces)
    if inherited:
        call = Call(call.service, call.operation, {**inherited, **call.params}, call.why)
    return call


def _ensure_config(spec: DeploySpec, runner: Runner, call: Call) -> None:
    name = spec.config_name
    existing = runner.read_or_none("sagemaker", "DescribeEndpointConfig", EndpointConfigName=name)
    if existing:
        check_same_config(existing, call.params, spec.variant)
        runner.note(f"endpoint config {name} exists: reusing it")
        return
    runner.call(call)


def _alarm_calls(spec: DeploySpec) -> list[Call]:
    alarms = spec.alarms
    if not alarms.create:
        return []
    calls = alarm_calls(spec.endpoint_name, spec.variant, alarms)
    if alarms.topic_arn:
        calls = [
            dataclasses.replace(c, params={**c.params, "AlarmActions": [alarms.topic_arn]})
            for c in calls
        ]
    if alarms.quality:
        calls += quality_alarm_calls(
            spec.endpoint_name, spec.variant, alarms.quality, alarms.topic_arn
        )
    return calls


def _put_alarms(spec: DeploySpec, runner: Runner) -> None:
    quality = spec.alarms.quality
    if spec.alarms.create and quality and not quality.model_version:
        runner.note(
            "no quality alarms: the model version the app reports is unknown (pass "
            "--app-model-version, or deploy a --model-package)"
        )
    for call in _alarm_calls(spec):
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
        for call in autoscaling_calls(spec.endpoint_name, spec.variant, spec.autoscaling):
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
    """Delete (or, with --archive, keep) the config and the models no variant serves any more."""
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
