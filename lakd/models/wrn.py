"""Wide ResNets (Zagoruyko & Komodakis 2016) as used in CRD's zoo: depth 6n+4,
three stages of n pre-activation wide blocks with widths 16k, 32k, 64k."""
from __future__ import annotations

from torch import nn

from .resnet import init_weights
from .staged import StagedNet


class WideBasicBlock(nn.Module):
    """Pre-activation block: BN-ReLU come first, so a block's output is the raw sum
    and the last BN-ReLU of the network lives in the head."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.relu = nn.ReLU()
        # When the shape changes, the shortcut projects the pre-activated input, as in the paper.
        self.projection = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x):
        activated = self.relu(self.bn1(x))
        out = self.conv1(activated)
        out = self.conv2(self.relu(self.bn2(out)))
        shortcut = x if self.projection is None else self.projection(activated)
        return out + shortcut


def wide_resnet(depth: int, widen: int, *, arch: str, num_classes: int, in_channels: int) -> StagedNet:
    if (depth - 4) % 6:
        raise ValueError(f"WRN depth must be 6n+4, got {depth}")
    n = (depth - 4) // 6
    blocks: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)]
    stage_ends = []
    cin = 16
    for stage, cout in enumerate((16 * widen, 32 * widen, 64 * widen)):
        for i in range(n):
            blocks.append(WideBasicBlock(cin, cout, stride=2 if (stage > 0 and i == 0) else 1))
            cin = cout
        stage_ends.append(len(blocks) - 1)
    head = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(cin, num_classes))
    net = StagedNet(blocks, head, stage_ends, arch=arch, num_classes=num_classes,
                    in_channels=in_channels, input_size=32)
    init_weights(net)
    return net


def _factory(depth: int, widen: int):
    return lambda num_classes=10, in_channels=3: wide_resnet(
        depth, widen, arch=f"wrn_{depth}_{widen}", num_classes=num_classes, in_channels=in_channels)


MODELS = {f"wrn_{d}_{k}": _factory(d, k) for d, k in ((16, 1), (16, 2), (40, 1), (40, 2))}
