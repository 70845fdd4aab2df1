"""The gate: `python -m model.promote` approves a candidate only when it beats what it replaces.

    python -m model.promote --data .var/training --model-package ARN --live-endpoint shop-recommender
    python -m model.promote --data export/ --candidate new/model.tar.gz --live old/  # local only

Scores the candidate, the live model and the shop's fallback on the newest held-out period of
the export (model/evaluation/gate.py) and prints the table. With --model-package the candidate's
artefact comes from the package, and the decision is written to it: Approved, or Rejected with
the reason and the table in its ApprovalDescription. Exit status: 0 approved, 3 rejected (the
gate did its job: not an error), 1 an AWS error or an unfair comparison (one line), 2 bad usage.
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3

from ..data.interactions import DataError, parse_timestamp, read_interactions
from ..evaluation.gate import GateError, Verdict, compare, format_table, load_model
from .artefacts import fetch_artefact, fetch_export, scratch
from .deploy.clients import Clients
from .deploy.errors import CommandError
from .deploy.plan import Runner
from .deploy.registry import (
    APPROVED,
    PENDING,
    REJECTED,
    approval_description,
    decide,
    describe_package,
)

REJECTED_EXIT = 3


@dataclass(frozen=True)
class Decided:
    """A package the gate (or a person) has decided already: its status and description."""

    status: str
    description: str


def live_model_data(runner: Runner, endpoint_name: str) -> str | None:
    """The artefact the endpoint serves most traffic from (None when there is no endpoint)."""
    endpoint = runner.read_or_none("sagemaker", "DescribeEndpoint", EndpointName=endpoint_name)
    if endpoint is None:
        return None
    config = runner.read(
        "sagemaker", "DescribeEndpointConfig", EndpointConfigName=endpoint["EndpointConfigName"]
    )
    weights = {
        v["VariantName"]: v.get("CurrentWeight", 0.0)
        for v in endpoint.get("ProductionVariants", [])
    }
    variants = sorted(
        config["ProductionVariants"],
        key=lambda v: -weights.get(v["VariantName"], v.get("InitialVariantWeight", 1.0)),
    )
    model = runner.read("sagemaker", "DescribeModel", ModelName=variants[0]["ModelName"])
    container = model.get("PrimaryContainer") or model["Containers"][0]
    return container.get("ModelDataUrl")


def package_model_data(package: dict[str, Any]) -> str:
    """The artefact of a model package's (first) container."""
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    if not containers or not containers[0].get("ModelDataUrl"):
        raise CommandError(f"model package {package['ModelPackageArn']} names no ModelDataUrl")
    return containers[0]["ModelDataUrl"]


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
    parser = argparse.ArgumentParser(
        prog="python -m model.promote", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--data", required=True, help="the shop's export: a folder, a file or an s3:// prefix")
    add("--candidate", help="model folder, model.tar.gz or s3:// URI (default: the package's)")
    add("--model-package", metavar="ARN", help="the candidate's package: the decision goes there")
    add("--live", help="the live model: folder, model.tar.gz or s3:// URI")
    add("--live-endpoint", help="read the live model from this endpoint (absent: none yet)")
    add("--margin", type=float, default=0.0, help="NDCG@k lead the interval must clear")
    add("--period-days", type=float, default=7.0, help="the held-out period: the last N days")
    add("--since", help="the held-out period's start (ISO 8601), instead of --period-days")
    add("--k", type=int, default=10)
    add("--seed", type=int, default=0, help="the bootstrap's random seed")
    add("--dry-run", action="store_true", help="compare and print, but write no decision")
    return parser


def main(
    argv: list[str] | None = None,
    session: boto3.session.Session | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the gate; `session` lets a test watch every call (AWS settings from boto3)."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if not (arguments.candidate or arguments.model_package):
        parser.error("give --candidate, --model-package, or both")
    if arguments.live and arguments.live_endpoint:
        parser.error("--live and --live-endpoint exclude each other")
    if arguments.k < 1 or arguments.period_days <= 0:
        parser.error("--k and --period-days must be positive")
    since = None
    if arguments.since:
        try:
            since = parse_timestamp(arguments.since)
        except ValueError as err:
            parser.error(f"--since: {err}")
    out = out or sys.stdout
    runner = Runner(Clients(session), dry_run=arguments.dry_run, out=sys.stderr)
    try:
        verdict = _judge(arguments, runner, since, out)
    except (CommandError, GateError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if isinstance(verdict, Decided):
        # The gate decides a package once: a re-run reports that decision.
        print(
            f"gate: model package {arguments.model_package} was {verdict.status} before "
            f"({verdict.description})",
            file=out,
        )
        return 0 if verdict.status == APPROVED else REJECTED_EXIT
    if verdict.approved:
        print(f"gate: candidate approved ({verdict.reason})", file=out)
        return 0
    print(f"gate: candidate rejected, nothing deployed ({verdict.reason})", file=out)
    return REJECTED_EXIT


def _judge(
    arguments: argparse.Namespace, runner: Runner, since: float | None, out: TextIO
) -> "Verdict | Decided":
    package = None
    if arguments.model_package:
        package = describe_package(runner, arguments.model_package)
        status = package.get("ModelApprovalStatus")
        if status != PENDING:
            return Decided(status, package.get("ApprovalDescription") or "no description")
    candidate_location = arguments.candidate or package_model_data(package or {})
    live_location = arguments.live
    if arguments.live_endpoint:
        live_location = live_model_data(runner, arguments.live_endpoint)
        if live_location is None:
            runner.note(f"endpoint {arguments.live_endpoint} does not exist: no live model yet")
    with scratch() as folder:
        candidate = load_model(fetch_artefact(runner, candidate_location, Path(folder)))
        live = None
        if live_location:
            live_folder = Path(folder) / "live"
            live_folder.mkdir()
            live = load_model(fetch_artefact(runner, live_location, live_folder))
    with scratch() as folder:
        interactions = read_interactions(fetch_export(runner, arguments.data, Path(folder)))
    verdict: Verdict = compare(
        candidate,
        live,
        interactions,
        since=since,
        period_days=arguments.period_days,
        k=arguments.k,
        margin=arguments.margin,
        seed=arguments.seed,
    )
    table = format_table(verdict)
    print(table, file=out)
    if package is not None:
        decision = APPROVED if verdict.approved else REJECTED
        runner.note(f"model package {arguments.model_package}: {decision}")
        decide(
            runner,
            arguments.model_package,
            verdict.approved,
            approval_description(verdict.reason, table),
        )
    return verdict


if __name__ == "__main__":
    sys.exit(main())
