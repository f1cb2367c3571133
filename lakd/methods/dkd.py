"""Decoupled knowledge distillation (Zhao et al., CVPR 2022): KD split into a
target-class part (TCKD) and a non-target part (NCKD), weighted separately."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from .base import Method, check_params
from .losses import dkd_loss


@dataclass
class DKDParams:
    alpha: float = 1.0
    beta: float = 8.0
    temperature: float = 4.0
    ce_weight: float = 1.0
    warmup_epochs: float = 2.0


class DKD(Method):
    """The DKD term is ramped in linearly: times min(epoch / warmup_epochs, 1), epochs
    counted from 1 (0.5 in epoch 1 with the default 2), because the strong NCKD term
    (beta 8) would otherwise swamp the untrained student's cross-entropy at the start.
    warmup_epochs = 0 means no ramp."""

    name = "dkd"
    Params = DKDParams
    needs_teacher = True

    def validate(self):
        check_params(self.params, positive=("temperature",),
                     non_negative=("alpha", "beta", "ce_weight", "warmup_epochs"))

    def warmup_factor(self, epoch: int) -> float:
        if self.params.warmup_epochs == 0:
            return 1.0
        return min(epoch / self.params.warmup_epochs, 1.0)

    def teacher_needs(self):
        return {"logits"}

    def forward_train(self, x, y, epoch, index=None):
        t_logits = self.teacher_outputs(x, index).logits
        logits = self.student(x)
        p = self.params
        return logits, {"ce": p.ce_weight * F.cross_entropy(logits, y),
                        "dkd": self.warmup_factor(epoch) * dkd_loss(logits, t_logits, y, p.alpha, p.beta, p.temperature)}
