"""Small shape checkers for request bodies, shared by every /v1 surface.

Each ``expect_*`` returns the value when it has the expected shape and otherwise raises
400 ``invalid_parameter`` naming ``param``, a JSON path such as
``messages[0].content[1].text``. ``None`` is never accepted by them: callers test for an
absent field first (``body.get(name) is not None``). ``json_checked`` walks a whole body
once for what no field check sees: nesting deeper than the serialiser accepts, numbers
that are not finite or do not fit 64 bits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from config.errors import ApiError

# orjson serialises at most 254 levels; an upstream body wraps the client's in a few more.
MAX_DEPTH = 64
_INT_LOW, _INT_HIGH = -(2**63), 2**64 - 1


def invalid(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, param=param)


def expect_object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(param, f"{param} must be an object")
    return value


def expect_list(value: Any, param: str, *, max_items: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(param, f"{param} must be an array")
    if max_items is not None and len(value) > max_items:
        raise invalid(param, f"{param} may hold at most {max_items} items")
    return value


def expect_str(value: Any, param: str, *, identifier: bool = False, nonempty: bool = False) -> str:
    """A string; an ``identifier`` (a model, a name, an id) may not hold a NUL character,
    which no database column and no upstream accepts in a name."""
    if not isinstance(value, str):
        raise invalid(param, f"{param} must be a string")
    if nonempty and not value:
        raise invalid(param, f"{param} must not be empty")
    if identifier and "\x00" in value:
        raise invalid(param, f"{param} must not contain a NUL character")
    return value


def expect_bool(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(param, f"{param} must be a boolean")
    return value


def is_int(value: Any) -> bool:
    """An integer, or a float with no fraction (JSON does not tell ``5`` from ``5.0``)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    )


def is_number(value: Any) -> bool:
    """A finite number (never a boolean)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def expect_int(value: Any, param: str, *, low: int | None = None, high: int | None = None) -> int:
    if not is_int(value):
        raise invalid(param, f"{param} must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(param, f"{param} must be in [{low}, {high}]; got {value}")
    return int(value)


def expect_number(
    value: Any, param: str, *, low: float | None = None, high: float | None = None
) -> float:
    if not is_number(value):
        raise invalid(param, f"{param} must be a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(param, f"{param} must be in [{low}, {high}]; got {value}")
    return value


def expect_choice(value: Any, param: str, choices: Iterable[str]) -> str:
    allowed = tuple(choices)
    if not isinstance(value, str) or value not in allowed:
        raise invalid(param, f"{param} must be one of " + ", ".join(allowed))
    return value


def expect_strings(value: Any, param: str, *, identifier: bool = False) -> list[str]:
    """An array of strings."""
    for i, item in enumerate(expect_list(value, param)):
        expect_str(item, f"{param}[{i}]", identifier=identifier)
    return value


def json_checked(body: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    """The body, if every number in it is finite and fits 64 bits and it nests at most
    ``max_depth`` levels (the parser already refuses NaN, infinities and bad UTF-8)."""
    stack: list[tuple[Any, str, int]] = [(body, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict):
            if depth >= max_depth:
                raise invalid(path or "body", f"the body nests deeper than {max_depth} levels")
            for key, item in value.items():
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            if depth >= max_depth:
                raise invalid(path or "body", f"the body nests deeper than {max_depth} levels")
            for i, item in enumerate(value):
                stack.append((item, f"{path}[{i}]", depth + 1))
        elif isinstance(value, float) and not math.isfinite(value):
            raise invalid(path, f"{path} must be a finite number")
        elif isinstance(value, int) and not _INT_LOW <= value <= _INT_HIGH:
            raise invalid(path, f"{path} does not fit in 64 bits")
    return body
