"""Run inside the framework image's Python: load an unpacked archive the way the container does.

    python framework_serving.py answer ROOT REQUEST   model_fn and transform_fn, called directly
    python framework_serving.py flask ROOT            sagemaker-containers' Flask worker (one model)
    python framework_serving.py mms ROOT              sagemaker-inference's Transformer (multi-model)

ROOT is the unpacked archive (/opt/ml/model in the container). Prints one JSON document. This file
runs under the image's Python (3.9), so it uses nothing newer; it imports nothing from the
repository, only the archive's code/ and what is installed.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import sys

MALFORMED = b'{"user_id": 12}'


def answer(root: str, request: str) -> dict:
    """The handler on the unpacked archive; what a malformed body raises (no server around)."""
    handler = _handler(root)
    bundled = importlib.import_module("model")
    model = handler.model_fn(root)
    body, content_type = handler.transform_fn(
        model, request.encode(), "application/json", "application/json"
    )
    try:
        handler.transform_fn(model, MALFORMED, "application/json", "application/json")
    except Exception as error:
        refused = {
            "mro": [kind.__module__ + "." + kind.__name__ for kind in type(error).__mro__],
            "status": getattr(error, "status", None),
        }
    return {
        "body": json.loads(body),
        "content_type": content_type,
        "handler": handler.__file__,
        "functions": sorted(name for name in vars(handler) if name.endswith("_fn")),
        "bundled": bundled.__file__,
        "python": list(sys.version_info[:3]),
        "numpy": importlib.metadata.version("numpy"),
        "scipy": importlib.metadata.version("scipy"),
        "malformed": refused,
    }


def flask(root: str) -> dict:
    """POSTs through sagemaker-containers' Transformer and Worker, wired as the image wires them.

    sagemaker_sklearn_container.serving builds `transformer.Transformer(model_fn=...,
    transform_fn=...)` from the user module's functions and serves its `transform` with
    `worker.Worker`; that package is not on PyPI, so these lines stand in for its wiring.
    """
    # sagemaker-containers reads the model from $SAGEMAKER_BASE_DIR/model at import.
    os.environ["SAGEMAKER_BASE_DIR"] = os.path.dirname(root)
    handler = _handler(root)
    from sagemaker_containers.beta.framework import transformer, worker

    serving = transformer.Transformer(model_fn=handler.model_fn, transform_fn=handler.transform_fn)
    serving.initialize()
    app = worker.Worker(transform_fn=serving.transform, module_name="inference")
    client = app.test_client()
    results = {}
    for name, body, content_type, accept in (
        ("ok", b'{"user_id": "anyone", "num_results": 2}', "application/json", "application/json"),
        ("malformed", MALFORMED, "application/json", "application/json"),
        ("not_json", b"user_id=1", "text/csv", "application/json"),
        ("accept_csv", b'{"user_id": "anyone"}', "application/json", "text/csv"),
    ):
        response = client.post(
            "/invocations", data=body, headers={"Content-Type": content_type, "Accept": accept}
        )
        results[name] = {
            "status": response.status_code,
            "content_type": response.headers.get("Content-Type"),
            "body": response.get_data(as_text=True),
        }
    return results


def mms(root: str) -> dict:
    """Requests through sagemaker-inference's Transformer with Multi Model Server's own Context."""
    os.environ["SAGEMAKER_PROGRAM"] = "inference.py"
    _handler(root)
    from mms.context import Context, RequestProcessor
    from sagemaker_inference.transformer import Transformer

    serving = Transformer()
    results = {}
    for name, body in (
        ("ok", b'{"user_id": "anyone", "num_results": 2}'),
        ("malformed", MALFORMED),
    ):
        context = Context("model", root, {}, 1, None, "1.1.1")
        context.request_processor = [
            RequestProcessor({"Content-Type": "application/json", "Accept": "application/json"})
        ]
        answer = serving.transform([{"body": body}], context)
        code, phrase = context.get_response_status(0)
        results[name] = {"status": code, "phrase": phrase, "body": _text(answer[0])}
    return results


def _handler(root: str):
    sys.path.insert(0, os.path.join(root, "code"))
    handler = importlib.import_module("inference")
    assert handler.__file__.startswith(root), handler.__file__
    return handler


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


if __name__ == "__main__":
    mode, root, *rest = sys.argv[1:]
    print(json.dumps({"answer": answer, "flask": flask, "mms": mms}[mode](root, *rest)))
