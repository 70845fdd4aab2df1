"""A small evaluator of identity-based IAM policies, standing in for IAM's own in the tests.

It answers "does this policy allow this action on this resource, given these request condition
keys?" the way IAM's policy evaluation logic does for what our policies use: Allow statements
with Action, Resource and Condition; wildcards (`*`, `?`) in actions (case-insensitive) and in
resources (case-sensitive, spanning `/` and `:`); the condition operators below, with a list of
values meaning any of them, keys joined by AND, and a key missing from the request failing every
operator except the ...IfExists ones, Null and ForAllValues. It is enough because
`check_supported` refuses any element or operator it does not know, so it never silently reads a
policy differently from IAM. It does not model explicit denies, SCPs, permission boundaries or
resource policies (such as a KMS key policy), which live outside model/iam/.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
"""

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

STATEMENT_ELEMENTS = {"Sid", "Effect", "Action", "Resource", "Condition"}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z]+)\}")


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _glob(pattern: str, *, case_sensitive: bool = True) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE)


def _like(value: str, pattern: str) -> bool:
    return bool(_glob(pattern).match(value))


def _equals(value: str, expected: str) -> bool:
    return value == expected


def _bool(value: str, expected: str) -> bool:
    return value.lower() == expected.lower()


OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": _equals,
    "StringLike": _like,
    "ArnLike": _like,
    "ArnEquals": _equals,
    "Bool": _bool,
}


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with each ${Name} placeholder replaced; a placeholder without a value is an error."""

    def value(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return PLACEHOLDER.sub(value, text)


def load(path: Path, values: dict[str, str]) -> dict[str, Any]:
    """A policy document from model/iam/ with its placeholders filled."""
    return json.loads(fill(path.read_text(), values))


def check_supported(document: dict[str, Any]) -> None:
    """Fail on anything this evaluator would not read as IAM does."""
    for statement in document["Statement"]:
        unknown = set(statement) - STATEMENT_ELEMENTS
        assert not unknown, f"{statement.get('Sid')}: {unknown} not modelled"
        assert statement["Effect"] == "Allow", f"{statement.get('Sid')}: only Allow is modelled"
        for operator in statement.get("Condition", {}):
            assert _split(operator)[1] in {*OPERATORS, "Null"}, (
                f"{statement.get('Sid')}: {operator}"
            )


def _split(operator: str) -> tuple[str, str, bool]:
    """("ForAllValues", "StringNotEquals", False) from "ForAllValues:StringNotEquals" etc."""
    qualifier, _, name = operator.rpartition(":")
    name = name.removesuffix("IfExists")
    negated = name.startswith("StringNot") or name.startswith("ArnNot")
    base = name.replace("Not", "", 1) if negated else name
    return qualifier, base, negated


def _condition_holds(operator: str, key: str, expected: list[str], context: dict[str, Any]) -> bool:
    qualifier, base, negated = _split(operator)
    if_exists = operator.endswith("IfExists")
    lowered = {k.lower(): v for k, v in context.items()}
    if base == "Null":
        return (key.lower() not in lowered) == (expected[0].lower() == "true")
    present = key.lower() in lowered
    if not present:
        return if_exists or qualifier == "ForAllValues"
    values = [str(v) for v in _listed(lowered[key.lower()])]
    compare = OPERATORS[base]

    def matches(value: str) -> bool:
        hit = any(compare(value, e) for e in expected)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(matches(v) for v in values)
    return any(matches(v) for v in values)


def _conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, Any]) -> bool:
    return all(
        _condition_holds(operator, key, [str(e) for e in _listed(expected)], context)
        for operator, keys in conditions.items()
        for key, expected in keys.items()
    )


def allowing_statements(
    document: dict[str, Any], action: str, resource: str, context: dict[str, Any] | None = None
) -> list[str]:
    """The Sids of the statements that allow `action` on `resource` in this request context."""
    context = context or {}
    found = []
    for statement in document["Statement"]:
        if not any(
            _glob(a, case_sensitive=False).match(action) for a in _listed(statement["Action"])
        ):
            continue
        if not any(_glob(r).match(resource) for r in _listed(statement["Resource"])):
            continue
        if _conditions_hold(statement.get("Condition", {}), context):
            found.append(statement.get("Sid", "?"))
    return found


def allows(
    document: dict[str, Any], action: str, resource: str, context: dict[str, Any] | None = None
) -> bool:
    """Whether the policy allows `action` on `resource` in this request context."""
    return bool(allowing_statements(document, action, resource, context))


def condition_keys(document: dict[str, Any]) -> Iterable[tuple[str, list[str], str]]:
    """(Sid, actions, condition key) for every condition key a statement uses."""
    for statement in document["Statement"]:
        for keys in statement.get("Condition", {}).values():
            for key in keys:
                yield statement.get("Sid", "?"), _listed(statement["Action"]), key
