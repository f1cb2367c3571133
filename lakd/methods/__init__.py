"""Method registry: adding a method is one file and one line here."""
from __future__ import annotations

from .base import Method, MethodError
from .kd import KD
from .vanilla import Vanilla

METHODS: dict[str, type[Method]] = {m.name: m for m in (Vanilla, KD)}


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise MethodError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    return METHODS[name]


__all__ = ["METHODS", "Method", "MethodError", "get_method"]
