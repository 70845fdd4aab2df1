"""Errors a person can act on: one line each, never a traceback.

Every AWS failure the deploy and training commands expect becomes a `CommandError` whose message
says what went wrong and what to do; the command line prints it and exits 1.
"""

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

POLICY_HINT = "model/iam/deploy-role.json"


class CommandError(Exception):
    """An expected failure: the message is the one line the command prints."""


class NotFound(CommandError):
    """A resource the command needs does not exist (role, image, endpoint, ...)."""


class AlreadyExists(CommandError):
    """`create` found an endpoint of that name serving something else."""


class EndpointFailed(CommandError):
    """The endpoint ended in `Failed`; the message carries SageMaker's FailureReason."""


class RolledBack(CommandError):
    """SageMaker rolled the update back: the endpoint still serves the old configuration."""


class WaitTimedOut(CommandError):
    """The resource was still changing when the wait's timeout ran out."""


class JobFailed(CommandError):
    """A training job ended `Failed` or `Stopped`."""


def error_code(err: ClientError) -> str:
    """The AWS error code of an error answer ("" when it has none)."""
    return str((err.response or {}).get("Error", {}).get("Code", ""))


def error_message(err: ClientError) -> str:
    """The AWS error message of an error answer, on one line."""
    message = str((err.response or {}).get("Error", {}).get("Message", ""))
    return " ".join(message.split())


def explain(err: Exception, operation: str) -> CommandError:
    """The one-line error for a botocore failure of `operation` ("sagemaker:CreateModel")."""
    if isinstance(err, CommandError):
        return err
    if isinstance(err, ClientError):
        return _explain_answer(err, operation)
    if isinstance(err, NoCredentialsError | PartialCredentialsError):
        return CommandError(
            "no AWS credentials: boto3 found none (environment, profile, SSO, or instance role)"
        )
    if isinstance(err, NoRegionError):
        return CommandError("no AWS region: set AWS_DEFAULT_REGION (or a profile's region)")
    if isinstance(err, ParamValidationError):
        first_line = str(err).splitlines()[-1].strip()
        return CommandError(f"{operation}: the request is not valid: {first_line}")
    if isinstance(err, BotoConnectionError):
        # botocore's message names the URL it tried, never a credential.
        return CommandError(f"{operation}: cannot reach AWS: {err}")
    if isinstance(err, BotoCoreError):
        return CommandError(f"{operation} failed: {err}")
    raise err


def _explain_answer(err: ClientError, operation: str) -> CommandError:
    code = error_code(err)
    message = error_message(err)
    if code == "ResourceLimitExceeded":
        return CommandError(
            f"{operation}: resource limit exceeded ({message}); ask for a higher quota in "
            "Service Quotas, or use fewer or smaller instances (or --serverless)"
        )
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return CommandError(
            f"{operation}: access denied; the caller's role needs {operation} "
            f"(see {POLICY_HINT}): {message}"
        )
    if code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
        return CommandError(f"{operation}: AWS is throttling the requests; try again shortly")
    if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"):
        return CommandError(f"{operation}: the AWS credentials were refused ({code}); renew them")
    if "assume" in message.lower() and "role" in message.lower():
        return NotFound(f"{operation}: SageMaker cannot assume the execution role: {message}")
    return CommandError(f"{operation} failed: {code or 'error'}: {message}")
