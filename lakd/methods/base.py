"""What a distillation method is: a small module that turns one batch into a dict
of named, already-weighted losses. The trainer sums the dict and steps; a method
that must own its backward (LAKD's local backward) overrides `train_step`.

Trainable extras a method needs (auxiliary heads, regressors) are submodules of the
method, so the optimizer sees them and checkpoints keep them; the teacher is frozen
and never saved with the run.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, ClassVar

import torch
from torch import nn

from ..models import StagedNet


class MethodError(ValueError):
    pass


@dataclasses.dataclass
class NoParams:
    pass


def check_params(params, *, positive: tuple[str, ...] = (), non_negative: tuple[str, ...] = ()) -> None:
    """Refuse NaN, negative or zero settings with a message that says what is allowed."""
    for name in positive + non_negative:
        value = getattr(params, name)
        if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
            raise MethodError(f"{name} must be a finite number, got {value!r}")
    for name in positive:
        if getattr(params, name) <= 0:
            raise MethodError(f"{name} must be > 0, got {getattr(params, name)}")
    for name in non_negative:
        if getattr(params, name) < 0:
            raise MethodError(f"{name} must be >= 0, got {getattr(params, name)}")


class Method(nn.Module):
    name: ClassVar[str] = "base"
    Params: ClassVar[type] = NoParams
    needs_teacher: ClassVar[bool] = False

    def __init__(self, student: StagedNet, teacher: StagedNet | None, params=None, *, epochs: int = 1):
        super().__init__()
        if self.needs_teacher and teacher is None:
            raise MethodError(f"method {self.name!r} needs a teacher (--teacher)")
        self.student = student
        self.teacher = teacher
        self.params = params if params is not None else self.Params()
        self.epochs = epochs
        if teacher is not None:
            teacher.eval()
            for p in teacher.parameters():
                p.requires_grad_(False)
        self.validate()

    def validate(self) -> None:
        """Raise MethodError for settings that make no sense."""

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def extras_state_dict(self) -> dict[str, torch.Tensor]:
        """State of the training-only parts (heads, regressors), for resume."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(("student.", "teacher."))}

    def load_extras_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        own = self.extras_state_dict()
        missing = set(own) - set(state)
        if missing:
            raise MethodError(f"checkpoint lacks training state for {sorted(missing)[:5]}")
        self.load_state_dict({**self.state_dict(), **{k: state[k] for k in own}})

    @torch.no_grad()
    def teacher_outputs(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        return self.teacher.forward_stages(x)

    def forward_train(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(student logits, named weighted losses) for one batch. `epoch` counts from 1."""
        raise NotImplementedError

    def train_step(self, x, y, epoch: int, backward: Callable[[torch.Tensor], None]) -> tuple[torch.Tensor, dict[str, float]]:
        logits, losses = self.forward_train(x, y, epoch)
        total = sum(losses.values())
        backward(total)
        return logits.detach(), {k: float(v.detach()) for k, v in losses.items()}
