"""The Config model's types, walked along a pydantic error's location.

Pydantic names where an error is (``loc``) with the YAML keys plus labels for union members; to
say it in the user's words we follow the model's annotations: which model, union member or field
each part belongs to, which keys a model takes and how to name a type.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import pydantic
from pydantic import AliasChoices


def unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and a lone ``| None``: pydantic puts no union label on those."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [m for m in typing.get_args(tp) if m is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def union_members(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(unwrap(m) for m in typing.get_args(tp) if m is not type(None))
    return ()


def pick_member(members: tuple[Any, ...], label: Any) -> Any:
    """The member a union label names: a discriminator tag, a class name, or ``dict[...]``-style."""
    for member in members:
        if is_model(member):
            for field in member.model_fields.values():
                if typing.get_origin(field.annotation) is Literal and label in typing.get_args(field.annotation):
                    return member
        name = _type_label(member)
        if isinstance(label, str) and (label == name or label.lower().startswith(name.lower() + "[")):
            return member
    return None


def _type_label(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "literal"
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(tp, "__name__", str(tp))


def is_model(tp: Any) -> typing.TypeGuard[type[pydantic.BaseModel]]:
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def child_type(tp: Any, part: Any) -> Any:
    if is_model(tp):
        for name, field in tp.model_fields.items():
            if part == name or part in field_names(name, field):
                return field.annotation
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None


def field_names(name: str, field: Any) -> list[str]:
    names = [name]
    if isinstance(field.alias, str):
        names.append(field.alias)
    alias = field.validation_alias
    if isinstance(alias, str):
        names.append(alias)
    elif isinstance(alias, AliasChoices):
        names.extend(choice for choice in alias.choices if isinstance(choice, str))
    return names


def describe_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return ", ".join(repr(arg) for arg in typing.get_args(tp))
    if is_model(tp) or tp is dict or origin is dict:
        return "a mapping"
    if tp is list or origin is list:
        return "a list"
    words = {str: "a string", bool: "true or false", int: "a whole number", float: "a number"}
    return words.get(tp, getattr(tp, "__name__", "a value"))


def model_names(tp: Any) -> list[str]:
    if not is_model(tp):
        return []
    names: list[str] = []
    for name, field in tp.model_fields.items():
        names.extend(field_names(name, field))
    return names


def union_tags(tp: Any) -> list[str]:
    tags: list[str] = []
    for member in union_members(tp):
        if is_model(member):
            for field in member.model_fields.values():
                if typing.get_origin(field.annotation) is Literal:
                    tags.extend(str(arg) for arg in typing.get_args(field.annotation))
    return tags
