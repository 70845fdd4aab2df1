"""The calls a command makes, printed as it makes them, or only printed with `--dry-run`.

Every write goes through `Runner.call`, so a dry run lists exactly the calls a real run would
make, with the same parameters; reads (`Describe*`, `Get*`) run in both, because what to write
depends on what exists.
"""

import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError

from .clients import Clients
from .errors import error_code, error_message, explain
from .rules import check_against_service_model

# SageMaker answers a describe of a missing resource with a ValidationException that says so.
_MISSING_MARKERS = ("could not find", "not found", "does not exist")


@dataclass(frozen=True)
class Call:
    """One AWS API call: service, operation (as IAM names it) and its parameters."""

    service: str
    operation: str
    params: dict[str, Any] = field(default_factory=dict)
    why: str = ""
    region: str | None = None  # None: the configured region

    @property
    def action(self) -> str:
        """The IAM action, e.g. "sagemaker:CreateModel"."""
        return f"{self.service}:{self.operation}"

    def render(self) -> str:
        """The call as the dry run prints it: the action, why, then the parameters as JSON."""
        head = f"{self.action}" + (f"  # {self.why}" if self.why else "")
        body = json.dumps(self.params, indent=2, default=str)
        return head + "\n" + "\n".join("  " + line for line in body.splitlines())


@dataclass(frozen=True)
class Retry:
    """Retry a call while its error answer is one the service documents as passing."""

    when: Callable[[ClientError], bool]
    attempts: int = 6
    base_seconds: float = 1.0
    cap_seconds: float = 20.0


def backoff_seconds(retry: Retry, attempt: int) -> float:
    """Capped exponential backoff with full jitter before retry number `attempt` (1, 2, ...)."""
    return random.uniform(0, min(retry.cap_seconds, retry.base_seconds * 2**attempt))


class Runner:
    """Makes (or, in a dry run, only prints) calls; turns AWS errors into one-line messages."""

    def __init__(
        self,
        clients: Clients,
        *,
        dry_run: bool = False,
        out: TextIO | None = None,
        progress: TextIO | None = None,
    ) -> None:
        self.clients = clients
        self.dry_run = dry_run
        self.out = out or sys.stdout
        self.progress = progress or sys.stderr
        self.made: list[Call] = []

    def call(self, call: Call, retry: Retry | None = None) -> dict[str, Any]:
        """Print `call`, make it unless this is a dry run, and return the answer ({} when dry).

        The request is first held to its operation's model (maximums, enums, patterns), in a
        dry run too, so that a request the service would refuse is never printed as fine.
        """
        self.enforce_rules(call)
        prefix = "[dry-run] would call " if self.dry_run else "calling "
        print(prefix + call.render(), file=self.out, flush=True)
        self.made.append(call)
        if self.dry_run:
            return {}
        for attempt in range(1, (retry.attempts if retry else 1) + 1):
            try:
                return self._request(call)
            except ClientError as err:
                if retry is None or attempt == retry.attempts or not retry.when(err):
                    raise explain(err, call.action) from None
                delay = backoff_seconds(retry, attempt)
                self.note(f"{call.action}: {error_message(err)}; retrying in {delay:.1f}s")
                time.sleep(delay)
            except BotoCoreError as err:
                raise explain(err, call.action) from None
        raise AssertionError("unreachable")

    def enforce_rules(self, call: Call) -> None:
        """RefusedBySageMaker where `call` breaks a maximum, enum or pattern of its API model."""
        client = self.clients.get(call.service, call.region)
        check_against_service_model(
            client.meta.service_model.operation_model(call.operation), call.params
        )

    def read(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """A read-only call, made in dry runs too."""
        return self._invoke(Call(service, operation, params))

    def read_or_none(
        self, service: str, operation: str, *, region: str | None = None, **params: Any
    ) -> dict[str, Any] | None:
        """A describe call, or None when the resource does not exist."""
        try:
            return self._request(Call(service, operation, params, region=region))
        except ClientError as err:
            if is_missing(err):
                return None
            raise explain(err, f"{service}:{operation}") from None
        except BotoCoreError as err:
            raise explain(err, f"{service}:{operation}") from None

    def note(self, message: str) -> None:
        """A line of progress for the person watching."""
        print(message, file=self.progress, flush=True)

    def _invoke(self, call: Call) -> dict[str, Any]:
        try:
            return self._request(call)
        except (ClientError, BotoCoreError) as err:
            # `from None`: the command prints the message; the botocore chain is noise there.
            raise explain(err, call.action) from None

    def _request(self, call: Call) -> dict[str, Any]:
        client = self.clients.get(call.service, call.region)
        answer = getattr(client, xform_name(call.operation))(**call.params)
        answer.pop("ResponseMetadata", None)
        return answer


def is_missing(err: ClientError) -> bool:
    """Whether an error answer means "no such resource"."""
    code = error_code(err)
    if code in ("NoSuchEntity", "NoSuchKey", "404", "RepositoryNotFoundException"):
        return True
    if code in ("ImageNotFoundException", "ObjectNotFound", "ResourceNotFound"):
        return True
    message = error_message(err).lower()
    return code.startswith("Validation") and any(m in message for m in _MISSING_MARKERS)
