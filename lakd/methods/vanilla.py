"""Cross-entropy only: the student (or a teacher) trained on labels alone."""
from __future__ import annotations

import torch.nn.functional as F

from .base import Method


class Vanilla(Method):
    name = "vanilla"

    def forward_train(self, x, y, epoch, index=None):
        logits = self.student(x)
        return logits, {"ce": F.cross_entropy(logits, y)}
