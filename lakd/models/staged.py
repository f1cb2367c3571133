"""The one model shape every part of LAKD Studio relies on.

A classifier is seen as a flat chain of blocks followed by a head. Why: LAKD cuts
the student into local modules at block boundaries, and every method reads stage
outputs. With a flat chain both are one loop, for our CIFAR zoo and for torchvision
models alike, and no model has to return special tuples to be distillable.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class StagedNet(nn.Module):
    """Blocks run in order, then the head. `stage_ends[k]` is the index of the last
    block of stage k; the output of that block is "stage k's output"."""

    def __init__(
        self,
        blocks: Sequence[nn.Module],
        head: nn.Module,
        stage_ends: Sequence[int],
        *,
        arch: str = "custom",
        num_classes: int,
        in_channels: int = 3,
        input_size: int = 32,
    ):
        super().__init__()
        if not blocks:
            raise ValueError("a StagedNet needs at least one block")
        ends = list(stage_ends)
        if ends != sorted(set(ends)) or ends[-1] != len(blocks) - 1 or ends[0] < 0:
            raise ValueError(f"stage_ends {ends} must be increasing and end at the last block ({len(blocks) - 1})")
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.stage_ends = tuple(ends)
        self.arch = arch
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.input_size = input_size

    @property
    def num_stages(self) -> int:
        return len(self.stage_ends)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def forward_stages(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Stage outputs (in order) and logits, from one forward pass."""
        feats = []
        ends = set(self.stage_ends)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in ends:
                feats.append(x)
        return feats, self.head(x)

    def block_stage(self, block_index: int) -> int:
        """Which stage a block belongs to."""
        for stage, end in enumerate(self.stage_ends):
            if block_index <= end:
                return stage
        raise IndexError(block_index)

    def describe(self) -> dict:
        """A plain summary, for the CLI and the app."""
        return {
            "arch": self.arch,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "input_size": self.input_size,
            "parameters": sum(p.numel() for p in self.parameters()),
            "blocks": len(self.blocks),
            "stage_ends": list(self.stage_ends),
        }


def stage_ends_from_resolution(blocks: Sequence[nn.Module], in_channels: int, input_size: int) -> list[int]:
    """Stage boundaries of an arbitrary chain: the last block before each drop in
    spatial resolution, plus the last block. Found by running a dummy input.

    A stem that downsamples again right away (e.g. MobileNetV3's first conv) would
    form a one-block stage of its own; it is folded into the next stage instead,
    since no method wants to distil a lone stem. Every module keeps its train/eval
    mode, because the caller may be mid-training."""
    modes = [(m, m.training) for b in blocks for m in b.modules()]
    params = [p for b in blocks for p in b.parameters()]
    device = params[0].device if params else torch.device("cpu")
    x = torch.zeros(1, in_channels, input_size, input_size, device=device)
    sizes = []
    try:
        with torch.no_grad():
            for b in blocks:
                b.eval()
                x = b(x)
                sizes.append(tuple(x.shape[-2:]) if x.dim() == 4 else (1, 1))
    finally:
        for m, training in modes:
            m.train(training)
    ends = [i for i in range(len(sizes) - 1) if sizes[i + 1] != sizes[i]]
    if ends and ends[0] == 0:
        ends = ends[1:]
    ends.append(len(blocks) - 1)
    return sorted(set(ends))
