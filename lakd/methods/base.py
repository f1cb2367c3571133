"""What a distillation method is: a small module that turns one batch into a dict
of named, already-weighted losses. The trainer sums the dict and steps; a method
that must own its backward (LAKD's local backward) overrides `train_step`.

Trainable extras a method needs (auxiliary heads, regressors) are submodules of the
method, so the optimizer sees them and checkpoints keep them; the teacher is frozen
and never saved with the run.

The teacher reaches a method only through `teacher_outputs`, which either runs the live
teacher or reads a teacher pack (lakd/pack.py) by the images' data-set indices; a method
says what it reads (`teacher_needs`), so a pack that lacks it is refused up front.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
from torch import nn

from ..maps import activation_map
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


def stage_shapes(net: StagedNet) -> list[tuple[int, int, int]]:
    """(C, H, W) of each stage output, found with one dummy forward. Every module keeps
    its train/eval mode and BN running statistics stay untouched (eval + no_grad)."""
    modes = [(m, m.training) for m in net.modules()]
    device = next(net.parameters()).device
    try:
        net.eval()
        with torch.no_grad():
            feats, _ = net.forward_stages(torch.zeros(1, net.in_channels, net.input_size, net.input_size, device=device))
    finally:
        for m, training in modes:
            m.train(training)
    return [tuple(f.shape[1:]) for f in feats]


@dataclass
class TeacherOutputs:
    """What the teacher says about one batch: logits, and per stage either its features
    (live teacher, or a pack made with features) or only its activation maps (a pack)."""
    logits: torch.Tensor
    feats: list[torch.Tensor] | None = None
    maps: list[torch.Tensor] | None = None   # (B, H, W) channel means of |F|^map_p, not normalised
    map_p: float | None = None

    def stage_maps(self, p: float) -> list[torch.Tensor]:
        """Activation maps of every stage at exponent p (computed once from features if needed)."""
        if self.maps is None or self.map_p != p:
            if self.feats is None:
                raise MethodError(f"the teacher's maps at p={p} are not available (the pack holds p={self.map_p})")
            self.maps, self.map_p = [activation_map(f, p) for f in self.feats], p
        return self.maps


class Method(nn.Module):
    name: ClassVar[str] = "base"
    Params: ClassVar[type] = NoParams
    needs_teacher: ClassVar[bool] = False

    def __init__(self, student: StagedNet, teacher: StagedNet | None, params=None, *, epochs: int = 1,
                 pack=None):
        super().__init__()
        if self.needs_teacher and teacher is None and pack is None:
            raise MethodError(f"method {self.name!r} needs a teacher (--teacher) or a teacher pack (--teacher-pack)")
        self.student = student
        self.teacher = teacher
        self.pack = pack  # a lakd.pack.TeacherPack: the teacher's outputs read from disk instead of computed
        self.params = params if params is not None else self.Params()
        self.epochs = epochs
        if teacher is not None:
            teacher.eval()
            for p in teacher.parameters():
                p.requires_grad_(False)
        if pack is not None and self.needs_teacher:
            pack.check_method(self.name, self.teacher_needs(), getattr(self.params, "p", None))
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

    def teacher_needs(self) -> set[str]:
        """What this method reads from the teacher: any of "logits", "maps", "feats"."""
        return {"logits", "feats"}

    @torch.no_grad()
    def teacher_outputs(self, x: torch.Tensor, index: torch.Tensor | None = None) -> TeacherOutputs:
        """The teacher's outputs for a batch; `index` (the images' data-set indices) is
        what a teacher pack is read by."""
        if self.pack is not None:
            if index is None:
                raise MethodError("a teacher pack is read by data-set index, but this batch came without one")
            return self.pack.outputs(index, x.device)
        feats, logits = self.teacher.forward_stages(x)
        return TeacherOutputs(logits, feats)

    def teacher_stage_shapes(self) -> list[tuple[int, int, int]]:
        """(C, H, W) of each teacher stage output, from the pack or one dummy forward
        (eval + no_grad, so BN running statistics stay untouched)."""
        return self.pack.stage_shapes if self.pack is not None else stage_shapes(self.teacher)

    def forward_train(self, x: torch.Tensor, y: torch.Tensor, epoch: int,
                      index: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(student logits, named weighted losses) for one batch. `epoch` counts from 1."""
        raise NotImplementedError

    def train_step(self, x, y, epoch: int, backward: Callable[[torch.Tensor], None],
                   index: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        logits, losses = self.forward_train(x, y, epoch, index)
        total = sum(losses.values())
        backward(total)
        return logits.detach(), {k: float(v.detach()) for k, v in losses.items()}
