"""LAKD: local modules with gradient truncation, guided by non-directional activation maps.

The student's blocks are cut into K local modules (see lakd/partition.py). Module k
reads the *detached* output of module k-1 (the separation-decoupling mechanism, SDM),
so each parameter learns only from its own module's loss:

  L_k = a * CE(z_k, y) + b * T^2 * KL(softmax(z_T/T) || softmax(z_k/T))
        + g * || A(s_k) - A(t_k) ||^2
        + d * sum_hw M_k(h,w) * || r_k(s_k)(:,h,w) - t_k(:,h,w) ||^2 / sum_hw M_k

z_k comes from a training-only auxiliary head (the last module uses the student's own
classifier), A is the NDAM map (lakd/maps.py), t_k the teacher stage paired with module
k by spatial grid, M_k = A(t_k) as an H x W weight, r_k a training-only 1x1 conv+BN
regressor (hybrid mode, d > 0). Two execution modes give the same gradients: "joint"
(sum all L_k, one backward) and "local" (backward each L_k as soon as its module ran,
freeing its graph, so peak activation memory is about that of the largest module).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..maps import map_loss_to_map, ndam, smaller_grid
from ..partition import PartitionError, plan_partition
from .base import Method, MethodError, TeacherOutputs, check_params
from .losses import kd_loss


@dataclass
class LAKDParams:
    partition: str = "stage"        # "stage", "block" or a number of modules
    a: float = 1.0                  # cross-entropy weight
    b: float = 1.0                  # logit-KD weight
    g: float = 10.0                 # NDAM map weight
    d: float = 0.0                  # attention-weighted feature weight (hybrid mode when > 0)
    temperature: float = 4.0
    p: float = 2.0                  # map exponent
    mode: str = "joint"             # "joint" or "local" (memory-saving local backward)
    sdm: bool = False               # stop-gradient between modules (decoupled; needed for mode "local").
                                    # Off by default: end-to-end with the same local losses measured best
                                    # on FMNIST-mini (BENCHMARKS.md, ablation)
    aux_kd: bool = True             # logit-KD on the auxiliary heads too (the last module always has it)
    head_channels: int = 0          # auxiliary head conv width (0 = the module's own width)
    head_pool: int = 0              # pool the module output to this grid before the head's conv (0 = no pooling;
                                    # a small grid makes heads cheap in time and memory)
    progressive: bool = False       # ramp distillation weights up, shallow modules first
    progressive_span: float = 0.5   # fraction of the run over which the ramps happen
    coupling: float = 0.0           # fraction of the run trained decoupled, then stop-gradients removed (0 = never)


def aux_head(channels: int, num_classes: int, width: int = 0, pool: int = 0) -> nn.Sequential:
    """Training-only classifier on a module's output: [pool,] conv3x3-BN-ReLU, global pool, linear."""
    width = width or channels
    layers = [nn.AdaptiveAvgPool2d(pool)] if pool else []
    layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
    return nn.Sequential(*layers)


def regressor(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))


def weighted_feature_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Squared feature distance per position, weighted by the teacher's NDAM map, batch-mean.

    Features are pooled to the smaller grid first; channel counts must already match.
    """
    grid = smaller_grid(student_feat, teacher_feat)
    s = F.adaptive_avg_pool2d(student_feat, grid) if tuple(student_feat.shape[-2:]) != grid else student_feat
    t = F.adaptive_avg_pool2d(teacher_feat, grid) if tuple(teacher_feat.shape[-2:]) != grid else teacher_feat
    weight = ndam(t, p).view(t.shape[0], *grid)
    per_position = (s.float() - t.float()).pow(2).sum(dim=1)
    return ((weight * per_position).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1e-12)).mean()


def pair_stages(module_grids: list[tuple[int, int]], teacher_grids: list[tuple[int, int]], same_count: bool) -> list[int]:
    """Teacher stage for each module: stage k when partitions match one-to-one, else the
    deepest teacher stage with the same grid (else the nearest grid by area)."""
    if same_count:
        return list(range(len(module_grids)))
    pairs = []
    for h, w in module_grids:
        cost = [abs(math.log((th * tw) / (h * w))) for th, tw in teacher_grids]
        best = min(cost)
        pairs.append(max(i for i, c in enumerate(cost) if c == best))
    return pairs


class LAKD(Method):
    name = "lakd"
    Params = LAKDParams
    needs_teacher = True

    def validate(self):
        p = self.params
        check_params(p, positive=("temperature", "p"), non_negative=("a", "b", "g", "d", "progressive_span", "coupling"))
        if p.mode not in ("joint", "local"):
            raise MethodError(f"mode must be 'joint' or 'local', got {p.mode!r}")
        if p.mode == "local" and not p.sdm:
            raise MethodError("mode 'local' needs sdm on: without stop-gradients a module's loss reaches earlier modules")
        if p.coupling > 1 or p.progressive_span > 1:
            raise MethodError("coupling and progressive_span are fractions of the run: between 0 and 1")
        if p.head_channels < 0 or p.head_pool < 0:
            raise MethodError(f"head_channels and head_pool must be >= 0, got {p.head_channels}, {p.head_pool}")
        try:
            self.modules_blocks = plan_partition(self.student, p.partition)
        except PartitionError as e:
            raise MethodError(str(e)) from e
        self._build_parts()

    def _build_parts(self) -> None:
        student, p = self.student, self.params
        x = torch.zeros(1, student.in_channels, student.input_size, student.input_size)
        was = student.training
        student.eval()
        with torch.no_grad():
            shapes = []
            h = x
            for first, last in self.modules_blocks:
                for i in range(first, last + 1):
                    h = student.blocks[i](h)
                shapes.append(tuple(h.shape[1:]))
        student.train(was)
        t_shapes = self.teacher_stage_shapes()
        K = len(shapes)
        self.teacher_stage = pair_stages([s[1:] for s in shapes], [t[1:] for t in t_shapes], K == len(t_shapes))
        self.module_shapes, self.teacher_shapes = shapes, t_shapes
        self.heads = nn.ModuleList(aux_head(shapes[k][0], student.num_classes, p.head_channels, p.head_pool) for k in range(K - 1))
        self.regressors = nn.ModuleList(regressor(shapes[k][0], t_shapes[self.teacher_stage[k]][0]) for k in range(K)) \
            if p.d > 0 else None

    def teacher_needs(self):
        p = self.params
        return {"logits"} | ({"maps"} if p.g > 0 else set()) | ({"feats"} if p.d > 0 else set())

    # -- schedules -------------------------------------------------------
    def ramp(self, k: int, epoch: int) -> float:
        """Progressive factor of module k's distillation weights in this epoch (1-based)."""
        p = self.params
        if not p.progressive or p.progressive_span == 0:
            return 1.0
        K = len(self.modules_blocks)
        width = p.progressive_span * self.epochs / K
        start = k * width
        return min(max((epoch - start) / width, 0.0), 1.0)

    def decoupled(self, epoch: int) -> bool:
        p = self.params
        if not p.sdm:
            return False
        return p.coupling == 0 or epoch <= math.ceil(p.coupling * self.epochs)

    # -- one module --------------------------------------------------------
    def run_module(self, k: int, h: torch.Tensor) -> torch.Tensor:
        first, last = self.modules_blocks[k]
        for i in range(first, last + 1):
            h = self.student.blocks[i](h)
        return h

    def module_loss(self, k, s_k, teacher: TeacherOutputs, y, epoch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        p = self.params
        last = k == len(self.modules_blocks) - 1
        z_k = self.student.head(s_k) if last else self.heads[k](s_k)
        stage = self.teacher_stage[k]
        ramp = self.ramp(k, epoch)
        tag = f"m{k + 1}_"
        losses = {tag + "ce": p.a * F.cross_entropy(z_k, y)}
        if p.b > 0 and (last or p.aux_kd):
            losses[tag + "kd"] = ramp * p.b * kd_loss(z_k, teacher.logits, p.temperature)
        if p.g > 0:
            losses[tag + "map"] = ramp * p.g * map_loss_to_map(s_k, teacher.stage_maps(p.p)[stage], p.p)
        if p.d > 0:
            losses[tag + "feat"] = ramp * p.d * weighted_feature_loss(self.regressors[k](s_k), teacher.feats[stage], p.p)
        return z_k, losses

    # -- the two execution modes ------------------------------------------
    def forward_train(self, x, y, epoch, index=None):
        """Joint mode: every module's loss in one graph (summed by the trainer, one backward)."""
        teacher = self.teacher_outputs(x, index)
        cut = self.decoupled(epoch)
        h, losses = x, {}
        for k in range(len(self.modules_blocks)):
            s_k = self.run_module(k, h)
            z_k, lk = self.module_loss(k, s_k, teacher, y, epoch)
            losses.update(lk)
            h = s_k.detach() if cut else s_k
        return z_k, losses

    def train_step(self, x, y, epoch, backward, index=None):
        if self.params.mode == "joint" or not self.decoupled(epoch):
            return super().train_step(x, y, epoch, backward, index)
        # local backward: each module's graph is freed before the next module runs
        teacher = self.teacher_outputs(x, index)
        h, record = x, {}
        for k in range(len(self.modules_blocks)):
            s_k = self.run_module(k, h)
            z_k, lk = self.module_loss(k, s_k, teacher, y, epoch)
            backward(sum(lk.values()))
            record.update({name: float(v.detach()) for name, v in lk.items()})
            h = s_k.detach()
        return z_k.detach(), record
