"""A small checker for builder keyword values against their type hints.

Builders use a handful of hint shapes (int, float, str, bool, tuples,
Literal, Optional); this covers exactly those and coerces the harmless
cases (list -> tuple, int -> float) so ``--set input_shape=[64]`` works.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

_MISSING = object()


class TypeMismatch(Exception):
    """Raised with a short description of what was expected."""


def describe(hint: Any) -> str:
    """A readable name of a type hint, for error messages."""
    if hint is Any or hint is _MISSING:
        return "any"
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"tuple of {describe(args[0])}"
        return "tuple(" + ", ".join(describe(a) for a in args) + ")"
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", str(hint))


def coerce(value: Any, hint: Any) -> Any:
    """Return ``value`` converted to ``hint`` or raise :class:`TypeMismatch`."""
    if hint is Any or hint is _MISSING:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        if value in args:
            return value
        raise TypeMismatch(f"one of {describe(hint)}")
    if origin in (Union, types.UnionType):
        for arg in args:
            try:
                return coerce(value, arg)
            except TypeMismatch:
                continue
        raise TypeMismatch(describe(hint))
    if hint is type(None):
        if value is None:
            return None
        raise TypeMismatch("None")
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise TypeMismatch(describe(hint))
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0]) for v in value)
        if args and len(args) != len(value):
            raise TypeMismatch(describe(hint))
        return tuple(coerce(v, a) for v, a in zip(value, args)) if args else tuple(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TypeMismatch("bool")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeMismatch("int")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeMismatch("float")
    if hint is str:
        if isinstance(value, str):
            return value
        raise TypeMismatch("str")
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise TypeMismatch(describe(hint))
    return value
