"""CIFAR VGGs with BatchNorm as in CRD's zoo: five groups of conv3x3-BN-ReLU with
widths 64, 128, 256, 512, 512, max-pooling between the first four groups."""
from __future__ import annotations

from torch import nn

from .resnet import init_weights
from .staged import StagedNet

GROUPS = {
    "vgg8": [[64], [128], [256], [512], [512]],
    "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
}


def vgg_group(cin: int, widths: list[int], pool_first: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.MaxPool2d(2)] if pool_first else []
    for cout in widths:
        layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        cin = cout
    return nn.Sequential(*layers)


def cifar_vgg(groups: list[list[int]], *, arch: str, num_classes: int, in_channels: int) -> StagedNet:
    """Blocks are groups that open with the pool before them, so the 4 stages end on pre-pool maps (32, 16, 8, 4; groups 4-5 share 4x4)."""
    blocks = []
    cin = in_channels
    for index, widths in enumerate(groups):
        # CRD skips the pool between the last two groups for 32x32 input.
        blocks.append(vgg_group(cin, widths, pool_first=0 < index < len(groups) - 1))
        cin = widths[-1]
    stage_ends = [0, 1, 2, len(blocks) - 1]
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))
    net = StagedNet(blocks, head, stage_ends, arch=arch, num_classes=num_classes,
                    in_channels=in_channels, input_size=32)
    init_weights(net)
    return net


def _factory(name: str):
    return lambda num_classes=10, in_channels=3: cifar_vgg(
        GROUPS[name], arch=name, num_classes=num_classes, in_channels=in_channels)


MODELS = {name: _factory(name) for name in GROUPS}
