"""CIFAR ShuffleNets as in CRD's zoo: V1 (Zhang et al. 2018, 3 groups) and V2
(Ma et al. 2018, size 1.0). Both keep a full-resolution stem and then halve the
resolution at the first unit of each of their three stages."""
from __future__ import annotations

import torch
from torch import nn

from .resnet import init_weights
from .staged import StagedNet


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave channels across groups so the next grouped conv sees every group."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def stem(in_channels: int, cout: int = 24) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ShuffleV1Unit(nn.Module):
    """Grouped 1x1, shuffle, depthwise 3x3, grouped 1x1. A downsampling unit
    concatenates an average-pooled shortcut instead of adding it, so its branch
    only produces the channels the shortcut does not bring."""

    def __init__(self, cin: int, cout: int, stride: int, groups: int, input_groups: int):
        super().__init__()
        self.stride = stride
        branch_out = cout - cin if stride == 2 else cout
        mid = branch_out // 4
        self.input_groups = input_groups
        self.conv1 = nn.Conv2d(cin, mid, 1, groups=input_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, branch_out, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(branch_out)
        self.relu = nn.ReLU()
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = channel_shuffle(out, self.input_groups)
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = self.shortcut(x)
        return self.relu(torch.cat([out, shortcut], 1) if self.stride == 2 else out + shortcut)


class ShuffleV2Unit(nn.Module):
    """A basic unit transforms half the channels and passes the other half through;
    a downsampling unit transforms all channels along two branches."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride = stride
        half = cout // 2
        branch_in = cin if stride == 2 else cin // 2
        self.main = nn.Sequential(
            nn.Conv2d(branch_in, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False), nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True))
        self.side = None
        if stride == 2:
            self.side = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True))

    def forward(self, x):
        if self.side is None:
            passed, transformed = x.chunk(2, dim=1)
            out = torch.cat([passed, self.main(transformed)], 1)
        else:
            out = torch.cat([self.side(x), self.main(x)], 1)
        return channel_shuffle(out, 2)


def _staged(blocks, head, stage_ends, *, arch, num_classes, in_channels) -> StagedNet:
    net = StagedNet(blocks, head, stage_ends, arch=arch, num_classes=num_classes,
                    in_channels=in_channels, input_size=32)
    init_weights(net)
    return net


def shufflenet_v1(*, num_classes: int = 10, in_channels: int = 3, groups: int = 3,
                  widths=(240, 480, 960), units=(4, 8, 4)) -> StagedNet:
    blocks: list[nn.Module] = [stem(in_channels)]
    stage_ends = []
    cin = 24
    for cout, count in zip(widths, units):
        for i in range(count):
            # The very first unit reads the narrow stem, which is not split into groups.
            input_groups = 1 if len(blocks) == 1 else groups
            blocks.append(ShuffleV1Unit(cin, cout, 2 if i == 0 else 1, groups, input_groups))
            cin = cout
        stage_ends.append(len(blocks) - 1)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))
    return _staged(blocks, head, stage_ends, arch="shufflenetv1", num_classes=num_classes, in_channels=in_channels)


def shufflenet_v2(*, num_classes: int = 10, in_channels: int = 3, widths=(116, 232, 464),
                  units=(4, 8, 4), last_channels: int = 1024) -> StagedNet:
    blocks: list[nn.Module] = [stem(in_channels)]
    stage_ends = []
    cin = 24
    for cout, count in zip(widths, units):
        for i in range(count):
            blocks.append(ShuffleV2Unit(cin, cout, 2 if i == 0 else 1))
            cin = cout
        stage_ends.append(len(blocks) - 1)
    head = nn.Sequential(nn.Conv2d(cin, last_channels, 1, bias=False), nn.BatchNorm2d(last_channels),
                         nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(last_channels, num_classes))
    return _staged(blocks, head, stage_ends, arch="shufflenetv2", num_classes=num_classes, in_channels=in_channels)


MODELS = {
    "shufflenetv1": lambda num_classes=10, in_channels=3: shufflenet_v1(num_classes=num_classes, in_channels=in_channels),
    "shufflenetv2": lambda num_classes=10, in_channels=3: shufflenet_v2(num_classes=num_classes, in_channels=in_channels),
}
