"""Knowledge distillation (Hinton et al., 2015): match the teacher's softened logits."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from .base import Method, check_params
from .losses import kd_loss


@dataclass
class KDParams:
    temperature: float = 4.0
    ce_weight: float = 0.1
    kd_weight: float = 0.9


class KD(Method):
    name = "kd"
    Params = KDParams
    needs_teacher = True

    def validate(self):
        check_params(self.params, positive=("temperature",), non_negative=("ce_weight", "kd_weight"))

    def teacher_needs(self):
        return {"logits"}

    def forward_train(self, x, y, epoch, index=None):
        t_logits = self.teacher_outputs(x, index).logits
        logits = self.student(x)
        p = self.params
        return logits, {"ce": p.ce_weight * F.cross_entropy(logits, y),
                        "kd": p.kd_weight * kd_loss(logits, t_logits, p.temperature)}
