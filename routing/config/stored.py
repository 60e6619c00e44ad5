"""Config values built from documents and dumped to them, without pydantic.

The config's runtime classes (`routing.config.models`, `.price`, `.batch`, `.samples`) are
frozen dataclasses; pydantic (`routing.config.schema`) is loaded only to validate a
document that was not validated before: a file, a CLI change, a corrupt stored config.

`construct(cls, data)` builds `cls` from a document in its validated shape (what `dump`
or `document()` wrote, or pydantic's dump of the validated schema), field by field by the
types the dataclass declares, and checks nothing but that shape. Anything else (a key the
class does not know, a required field missing, a value of another type, text that is not
valid Unicode) raises `Unread`; `read` then validates the document in full, so a corrupt
document gets the same message a file would. `dump(value)` is the JSON document.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar


class Unread(Exception):
    """The document is not in the shape of a validated config value: validate it in full."""


_NONE = type(None)
T = TypeVar("T")
# class -> (field -> (type, required)); the annotations are resolved once per class
_FIELDS: dict[type, dict[str, tuple[Any, bool]]] = {}


def _fields(cls: type) -> dict[str, tuple[Any, bool]]:
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = {f.name: (hints[f.name], f.default is dataclasses.MISSING
                          and f.default_factory is dataclasses.MISSING)
                 for f in dataclasses.fields(cls)}
        _FIELDS[cls] = found
    return found


def construct(cls: type[T], data: Any) -> T:
    """`cls` (a config dataclass) built from `data`, a document in its validated shape."""
    if not isinstance(data, dict):
        raise Unread(cls.__name__)
    fields = _fields(cls)
    values: dict[str, Any] = {}
    for name, value in data.items():
        spec = fields.get(name)
        if spec is None:
            raise Unread(f"{cls.__name__}.{name}")
        values[name] = _value(spec[0], value)
    for name, (_, required) in fields.items():
        if required and name not in values:
            raise Unread(f"{cls.__name__}.{name}")
    return cls(**values)


def read(cls: type[T], data: Any, validate: Callable[[Any], T]) -> T:
    """`construct(cls, data)`, or `validate(data)` (pydantic's, with its messages) when
    `data` is not in the validated shape."""
    try:
        return construct(cls, data)
    except Unread:
        return validate(data)


def _value(annotation: Any, value: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is types.UnionType or origin is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not _NONE]
        if value is None and len(options) < len(typing.get_args(annotation)):
            return None
        if len(options) != 1:
            raise Unread(str(annotation))
        return _value(options[0], value)
    if origin is dict:
        if not isinstance(value, dict):
            raise Unread(str(annotation))
        _, item = typing.get_args(annotation)
        return {_text(k): _value(item, v) for k, v in value.items()}
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) != 2 or args[1] is not Ellipsis or not isinstance(value, list | tuple):
            raise Unread(str(annotation))
        return tuple(_value(args[0], item) for item in value)
    if origin is not None or not isinstance(annotation, type):
        raise Unread(str(annotation))
    if dataclasses.is_dataclass(annotation):
        return construct(annotation, value)
    if issubclass(annotation, Enum):
        try:
            return annotation(value)
        except ValueError:
            raise Unread(str(annotation)) from None
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value != value or value in (float("inf"), float("-inf")):
                raise Unread("a number that is not finite")
            return float(value)
    elif annotation is str:
        return _text(value)
    elif annotation is Decimal:
        return _decimal(value)
    raise Unread(str(annotation))


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise Unread("a str")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the validation names it
        raise Unread("text that is not valid Unicode") from None
    return value


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value)
        except ArithmeticError:
            raise Unread("an amount") from None
    else:
        raise Unread("an amount")
    if not amount.is_finite():
        raise Unread("an amount that is not finite")
    return amount


def dump(value: Any, *, exclude_none: bool = False) -> dict[str, Any]:
    """The JSON document of a config dataclass (Decimals as strings, enums as values)."""
    out = {}
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if item is None and exclude_none:
            continue
        out[f.name] = _dumped(item, exclude_none)
    return out


def _dumped(value: Any, exclude_none: bool) -> Any:
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dump(value, exclude_none=exclude_none)
    if isinstance(value, dict):
        return {k: _dumped(v, exclude_none) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_dumped(item, exclude_none) for item in value]
    raise TypeError(f"a config value holds a {type(value).__name__}")
