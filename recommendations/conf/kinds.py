"""What a value of each setting must be: its type and range, for the checks and the reference.

`defaults.KINDS` gives every setting one of these. Each kind says what is wrong with a value
(`problem`, None when nothing is), describes itself for messages and docs (`describe`), and names
the system check id its errors carry. Registries (built-in backends, codecs, export formats) are
named by dotted path and imported only when a check runs, so that this module imports nothing of
the app and the registries stay defined once, next to the code that uses them.
"""

from dataclasses import dataclass
from numbers import Real
from typing import Any

from django.db.models import Q
from django.utils.module_loading import import_string


def _is_number(value: Any) -> bool:
    # bool is an int in Python, but True is no number of seconds.
    return isinstance(value, Real) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class Kind:
    """Base of every kind: accepts anything."""

    check_id: str = "recommendations.E021"

    def problem(self, value: Any) -> str | None:
        """None when `value` fits, else what it must be (for the error message)."""
        return None

    def describe(self) -> str:
        """What a value must be, as the settings reference and the error messages say it."""
        return "anything"

    def wrong_value(self) -> Any:
        """A value of the wrong type (the tests give it to every setting)."""
        return object()

    def out_of_range_value(self) -> Any:
        """A value of the right type but out of range, or None when every such value fits."""
        return None


@dataclass(frozen=True, kw_only=True)
class Number(Kind):
    """A real number (int or float, not bool) of at least `minimum` (above it when `strict`)."""

    minimum: float = 0
    strict: bool = False
    maximum: float | None = None
    check_id: str = "recommendations.E019"

    def problem(self, value: Any) -> str | None:
        if not _is_number(value):
            return self.describe()
        below = value <= self.minimum if self.strict else value < self.minimum
        if below or (self.maximum is not None and value > self.maximum):
            return self.describe()
        return None

    def describe(self) -> str:
        if self.maximum is not None:
            return f"a number from {self.minimum:g} to {self.maximum:g}"
        if self.strict and self.minimum == 0:
            return "a positive number"
        return f"a number of at least {self.minimum:g}"

    def wrong_value(self) -> Any:
        return "often"

    def out_of_range_value(self) -> Any:
        return self.minimum - 1


def positive(check_id: str = "recommendations.E015") -> Number:
    """A number above 0."""
    return Number(minimum=0, strict=True, check_id=check_id)


def share(check_id: str = "recommendations.E013") -> Number:
    """A share from 0 to 1."""
    return Number(minimum=0, maximum=1, check_id=check_id)


@dataclass(frozen=True, kw_only=True)
class Whole(Kind):
    """An int (not bool) of at least `minimum`."""

    minimum: int = 1
    check_id: str = "recommendations.E011"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool) or value < self.minimum:
            return self.describe()
        return None

    def describe(self) -> str:
        return f"a whole number of at least {self.minimum}"

    def wrong_value(self) -> Any:
        return 2.5

    def out_of_range_value(self) -> Any:
        return self.minimum - 1


@dataclass(frozen=True, kw_only=True)
class Text(Kind):
    """A string; non-empty unless `empty` is allowed."""

    empty: bool = True
    check_id: str = "recommendations.E021"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str) or (not self.empty and not value):
            return self.describe()
        return None

    def describe(self) -> str:
        return "a string" if self.empty else "a non-empty string"

    def wrong_value(self) -> Any:
        return 5

    def out_of_range_value(self) -> Any:
        return None if self.empty else ""


@dataclass(frozen=True, kw_only=True)
class CurrencyCode(Kind):
    """An ISO 4217 currency code: three capital letters ("EUR", "GBP")."""

    check_id: str = "recommendations.E028"

    def problem(self, value: Any) -> str | None:
        if (
            isinstance(value, str)
            and len(value) == 3
            and value.isascii()
            and value.isalpha()
            and value.isupper()
        ):
            return None
        return self.describe()

    def describe(self) -> str:
        return 'an ISO 4217 currency code such as "EUR" or "GBP"'

    def wrong_value(self) -> Any:
        return 978

    def out_of_range_value(self) -> Any:
        return "£"


@dataclass(frozen=True, kw_only=True)
class Flag(Kind):
    """True or False."""

    check_id: str = "recommendations.E022"

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else self.describe()

    def describe(self) -> str:
        return "True or False"

    def wrong_value(self) -> Any:
        return "yes"


@dataclass(frozen=True, kw_only=True)
class Mapping(Kind):
    """A dict with string keys."""

    check_id: str = "recommendations.E020"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
            return self.describe()
        return None

    def describe(self) -> str:
        return "a dict with string keys"

    def wrong_value(self) -> Any:
        return "AES256"


@dataclass(frozen=True, kw_only=True)
class AvailableFilter(Kind):
    """Which products may be shown: `QuerySet.filter` keyword arguments (a dict with string keys),
    a `Q` object, or the dotted path of a callable that takes the product model's queryset and
    returns the available ones. The path is imported here, so that a wrong one is a check's error
    at start-up and never a page's."""

    check_id: str = "recommendations.E029"

    def problem(self, value: Any) -> str | None:
        if isinstance(value, Q):
            return None
        if isinstance(value, dict):
            return None if all(isinstance(key, str) for key in value) else self.describe()
        if not isinstance(value, str) or not value:
            return self.describe()
        try:
            loaded = import_string(value)
        except Exception as error:
            # Any error of the shop's module (not only ImportError) is this setting's problem.
            return f"{self.describe()}; it cannot be imported ({type(error).__name__}: {error})"
        if not callable(loaded):
            return f"{self.describe()}; it names a {type(loaded).__name__}, which is not callable"
        return None

    def describe(self) -> str:
        return (
            "a dict of QuerySet.filter() keyword arguments, a Q object, or the dotted path of a "
            "callable that takes the product model's queryset and returns the available products"
        )

    def wrong_value(self) -> Any:
        return ["is_active"]

    def out_of_range_value(self) -> Any:
        return "no.such.available_products"


@dataclass(frozen=True, kw_only=True)
class TextList(Kind):
    """A list or tuple of strings (a lone string is refused: it would read as its letters)."""

    check_id: str = "recommendations.E023"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            return self.describe()
        return None

    def describe(self) -> str:
        return "a list of strings"

    def wrong_value(self) -> Any:
        return "127.0.0.1"


@dataclass(frozen=True, kw_only=True)
class Optional(Kind):
    """None, or a value of `inner`."""

    inner: Kind = Kind()
    check_id: str = ""

    def __post_init__(self) -> None:
        if not self.check_id:
            object.__setattr__(self, "check_id", self.inner.check_id)

    def problem(self, value: Any) -> str | None:
        if value is None or self.inner.problem(value) is None:
            return None
        return self.describe()

    def describe(self) -> str:
        return f"{self.inner.describe()}, or None"

    def wrong_value(self) -> Any:
        return self.inner.wrong_value()

    def out_of_range_value(self) -> Any:
        return self.inner.out_of_range_value()


def registry_names(path: str) -> list[str]:
    """The names of the registry (a dict or a sequence) at dotted `path`."""
    return list(import_string(path))


@dataclass(frozen=True, kw_only=True)
class Choice(Kind):
    """One of the names in the registry at dotted path `registry`."""

    registry: str = ""
    check_id: str = "recommendations.E021"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str) or value not in registry_names(self.registry):
            return self.describe()
        return None

    def describe(self) -> str:
        return "one of " + ", ".join(repr(name) for name in registry_names(self.registry))

    def wrong_value(self) -> Any:
        return 5

    def out_of_range_value(self) -> Any:
        return "no-such-choice"


@dataclass(frozen=True, kw_only=True)
class NameOrPath(Kind):
    """A name in the registry at `registry` (if any), or the dotted path of a `base` subclass."""

    registry: str = ""
    base: str = ""
    check_id: str = "recommendations.E021"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value:
            return self.describe()
        if self.registry and value in registry_names(self.registry):
            return None
        try:
            loaded = import_string(value)
        except ImportError:
            return self.describe()
        base = import_string(self.base)
        if isinstance(loaded, type) and issubclass(loaded, base):
            return None
        if isinstance(loaded, base):
            return None
        return self.describe()

    def describe(self) -> str:
        path = f"the dotted path of a {self.base} subclass"
        if not self.registry:
            return path
        names = ", ".join(repr(name) for name in registry_names(self.registry))
        return f"one of {names}, or {path}"

    def wrong_value(self) -> Any:
        return 5

    def out_of_range_value(self) -> Any:
        return "no.such.Thing"


@dataclass(frozen=True, kw_only=True)
class Destination(Kind):
    """A folder path, 's3://bucket/prefix', or '' (switched off)."""

    check_id: str = "recommendations.E017"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str) or ("://" in value and not value.startswith("s3://")):
            return self.describe()
        return None

    def describe(self) -> str:
        return "a folder path, 's3://bucket/prefix', or '' (no daily export)"

    def wrong_value(self) -> Any:
        return None

    def out_of_range_value(self) -> Any:
        return "ftp://host/x"
