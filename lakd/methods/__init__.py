"""Method registry: adding a method is one file and one line here."""
from __future__ import annotations

from .at import AT
from .base import Method, MethodError
from .dkd import DKD
from .fitnet import FitNet
from .kd import KD
from .lakd import LAKD
from .vanilla import Vanilla

METHODS: dict[str, type[Method]] = {m.name: m for m in (Vanilla, KD, LAKD, AT, FitNet, DKD)}


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise MethodError(f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}")
    return METHODS[name]


__all__ = ["METHODS", "Method", "MethodError", "get_method"]
