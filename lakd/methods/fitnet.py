"""FitNets (Romero et al., 2015): regress the student's intermediate features (the
"hint") onto the teacher's through a small trainable adapter, with an MSE loss."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from .base import Method, MethodError, check_params, stage_shapes


@dataclass
class FitNetParams:
    hint_stage: int = 1
    ce_weight: float = 1.0
    feat_weight: float = 100.0


class FitNet(Method):
    """`hint_stage` is a 0-based index into the stage outputs of both networks (1 is
    the 32x16x16 output of resnet8/resnet20). The regressor (1x1 conv + BN + ReLU,
    ending in ReLU because the teacher's hint is a post-ReLU output) is a submodule,
    so the optimizer trains it and resume restores it."""

    name = "fitnet"
    Params = FitNetParams
    needs_teacher = True

    def __init__(self, student, teacher, params=None, *, epochs: int = 1, pack=None):
        super().__init__(student, teacher, params, epochs=epochs, pack=pack)
        stage = self.params.hint_stage
        s_channels = stage_shapes(student)[stage][0]
        t_channels = self.teacher_stage_shapes()[stage][0]
        self.regressor = nn.Sequential(nn.Conv2d(s_channels, t_channels, 1, bias=False),
                                       nn.BatchNorm2d(t_channels), nn.ReLU(inplace=True))

    def validate(self):
        check_params(self.params, non_negative=("ce_weight", "feat_weight"))
        stage = self.params.hint_stage
        teacher_stages = len(self.teacher_stage_shapes())
        stages = min(self.student.num_stages, teacher_stages)
        if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage < stages:
            raise MethodError(f"hint_stage must be an integer from 0 to {stages - 1} (student has "
                              f"{self.student.num_stages} stages, teacher {teacher_stages}), got {stage!r}")

    def teacher_needs(self):
        return {"feats"}

    def forward_train(self, x, y, epoch, index=None):
        t_feats = self.teacher_outputs(x, index).feats
        s_feats, logits = self.student.forward_stages(x)
        stage = self.params.hint_stage
        hint, target = s_feats[stage], t_feats[stage]
        if hint.shape[-2:] != target.shape[-2:]:
            hint = F.adaptive_avg_pool2d(hint, target.shape[-2:])
        p = self.params
        return logits, {"ce": p.ce_weight * F.cross_entropy(logits, y),
                        "hint": p.feat_weight * F.mse_loss(self.regressor(hint), target)}
