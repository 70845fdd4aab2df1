"""Input errors as AWS's framework containers answer them: a 4xx, never a 500.

A 500 counts in `Invocation5XXErrors`, the metric the rollback alarm watches, so a client's
malformed request must not be one. The scikit-learn image has two servers:

- one model (the default): sagemaker-containers' Flask worker. Its `Transformer` re-raises any
  exception from the user's functions as its own `ClientError`, which Flask answers with 500, so
  no exception type can carry a 4xx there; `error_response` builds the response instead, which
  `transform_fn` returns.
- SAGEMAKER_MULTI_MODEL: Multi Model Server and sagemaker-inference's `Transformer`, which answers
  a `BaseInferenceToolkitError` with its `status_code` and anything else with 500.
  `container_errors()` re-raises our `InferenceError` as a class that is both the same
  `InferenceError` subclass and the toolkit's type; without the toolkit our own error goes through.
"""

from __future__ import annotations

import contextlib
import functools
import http
import json
from collections.abc import Iterator

from .protocol import InferenceError

# Optional: the container provides these, so the framework archive leaves guarded imports out of
# code/requirements.txt (installing them would replace the image's own versions).
try:
    from sagemaker_inference.errors import BaseInferenceToolkitError
except ImportError:
    BaseInferenceToolkitError = None
try:
    import flask
except ImportError:
    flask = None


@contextlib.contextmanager
def container_errors() -> Iterator[None]:
    """Re-raise an `InferenceError` from the block as sagemaker-inference's 4xx type if present."""
    try:
        yield
    except InferenceError as error:
        if BaseInferenceToolkitError is None:
            raise
        raise _toolkit_class(type(error))(error) from error


def error_response(error: InferenceError) -> object | None:
    """The JSON 4xx response for `error` inside a Flask request (the one-model server), else None."""
    if flask is None or not flask.has_request_context():
        return None
    body = json.dumps(error.to_json())
    return flask.Response(body, status=error.status, mimetype="application/json")


@functools.cache
def _toolkit_class(kind: type[InferenceError]) -> type[InferenceError]:
    """A subclass of `kind` and of sagemaker-inference's `BaseInferenceToolkitError`."""
    return type(kind.__name__, (kind, BaseInferenceToolkitError), {"__init__": _init})


def _init(self: InferenceError, error: InferenceError) -> None:
    # The two bases' __init__ methods take different arguments, so the attributes both read are
    # set here rather than through a super() chain. The toolkit sends `message` as the body and
    # `phrase` as the reason.
    Exception.__init__(self, error.message)
    self.message = error.message
    self.status_code = error.status
    self.phrase = http.HTTPStatus(error.status).phrase
