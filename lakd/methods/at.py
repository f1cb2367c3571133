"""Attention transfer (Zagoruyko & Komodakis, 2017): make the student's spatial
attention maps (where its features are strong) match the teacher's, stage by stage."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from .base import Method, check_params
from .losses import at_loss


@dataclass
class ATParams:
    p: float = 2.0
    ce_weight: float = 1.0
    feat_weight: float = 1000.0


class AT(Method):
    """Stage outputs are paired in order. When teacher and student have different
    numbers of stages, the last min(Ks, Kt) stages of each are paired, because the
    deep stages carry the semantics both networks share; the extra early stages of
    the deeper-staged net are left out. The per-pair losses are summed."""

    name = "at"
    Params = ATParams
    needs_teacher = True

    def validate(self):
        check_params(self.params, positive=("p",), non_negative=("ce_weight", "feat_weight"))

    def teacher_needs(self):
        return {"feats"}

    def forward_train(self, x, y, epoch, index=None):
        t_feats = self.teacher_outputs(x, index).feats
        s_feats, logits = self.student.forward_stages(x)
        pairs = min(len(s_feats), len(t_feats))
        p = self.params
        attention = sum(at_loss(s, t, p.p) for s, t in zip(s_feats[-pairs:], t_feats[-pairs:]))
        return logits, {"ce": p.ce_weight * F.cross_entropy(logits, y),
                        "at": p.feat_weight * attention}
