"""MobileNetV2 (Sandler et al. 2018) at width 0.5, CRD's `mobile_half`, adapted to
32x32 input: the stem and the 24-channel group keep full resolution."""
from __future__ import annotations

from torch import nn

from .resnet import init_weights
from .staged import StagedNet, stage_ends_from_resolution

# expansion t, output channels c, repeats n, first stride s (CIFAR strides, as in CRD)
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class InvertedResidual(nn.Module):
    """Expand (1x1), filter depthwise (3x3), project linearly (1x1); the residual
    is added only where the shape is kept."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        layers = conv_bn_relu(cin, hidden, 1) if expansion != 1 else []
        layers += conv_bn_relu(hidden, hidden, 3, stride, groups=hidden)
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x):
        out = self.conv(x)
        return x + out if self.use_residual else out


def cifar_mobilenetv2(width: float = 0.5, *, arch: str, num_classes: int, in_channels: int) -> StagedNet:
    cin = int(32 * width)
    blocks: list[nn.Module] = [nn.Sequential(*conv_bn_relu(in_channels, cin, 3, stride=1))]
    for expansion, channels, repeats, stride in SETTINGS:
        cout = int(channels * width)
        for i in range(repeats):
            blocks.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expansion))
            cin = cout
    # Like the paper (and CRD), the 1280-wide last conv only grows for widths above 1.
    last = int(1280 * width) if width > 1.0 else 1280
    head = nn.Sequential(*conv_bn_relu(cin, last, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(last, num_classes))
    stage_ends = stage_ends_from_resolution(blocks, in_channels, 32)
    net = StagedNet(blocks, head, stage_ends, arch=arch, num_classes=num_classes,
                    in_channels=in_channels, input_size=32)
    init_weights(net)
    return net


MODELS = {"mobilenetv2": lambda num_classes=10, in_channels=3: cifar_mobilenetv2(
    0.5, arch="mobilenetv2", num_classes=num_classes, in_channels=in_channels)}
