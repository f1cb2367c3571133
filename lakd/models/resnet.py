"""CIFAR ResNets as used across the KD literature (He et al. 2016, CRD's zoo):
depth 6n+2, three stages of n basic blocks; `x4` variants are four times wider."""
from __future__ import annotations

from torch import nn

from .staged import StagedNet


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def classifier_head(channels: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


def init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def cifar_resnet(depth: int, widths: tuple[int, int, int, int], *, arch: str, num_classes: int, in_channels: int) -> StagedNet:
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
    n = (depth - 2) // 6
    blocks: list[nn.Module] = [conv_bn_relu(in_channels, widths[0])]
    stage_ends = []
    cin = widths[0]
    for stage, cout in enumerate(widths[1:]):
        for i in range(n):
            blocks.append(BasicBlock(cin, cout, stride=2 if (stage > 0 and i == 0) else 1))
            cin = cout
        stage_ends.append(len(blocks) - 1)
    net = StagedNet(blocks, classifier_head(cin, num_classes), stage_ends, arch=arch,
                    num_classes=num_classes, in_channels=in_channels, input_size=32)
    init_weights(net)
    return net


def _plain(depth):
    return lambda num_classes=10, in_channels=3: cifar_resnet(
        depth, (16, 16, 32, 64), arch=f"resnet{depth}", num_classes=num_classes, in_channels=in_channels)


def _wide(depth):
    return lambda num_classes=10, in_channels=3: cifar_resnet(
        depth, (32, 64, 128, 256), arch=f"resnet{depth}x4", num_classes=num_classes, in_channels=in_channels)


MODELS = {f"resnet{d}": _plain(d) for d in (8, 14, 20, 32, 44, 56, 110)}
MODELS.update({"resnet8x4": _wide(8), "resnet32x4": _wide(32)})
