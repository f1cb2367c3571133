"""torchvision classifiers flattened into a `StagedNet`, so LAKD and every method can
cut and read them like the CIFAR zoo. Stages are found from where resolution drops."""
from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torchvision import models as tv

from .staged import StagedNet, stage_ends_from_resolution


def _build(name: str, num_classes: int, pretrained: bool) -> nn.Module:
    """Pretrained weights only exist for the 1000 ImageNet classes, so the classifier's
    last Linear is swapped afterwards; without weights the right size is built directly."""
    if not pretrained:
        return tv.get_model(name, weights=None, num_classes=num_classes)
    model = tv.get_model(name, weights=tv.get_model_weights(name).DEFAULT)
    if num_classes != 1000:
        if hasattr(model, "fc"):
            model.fc = nn.Linear(model.fc.in_features, num_classes)
        else:
            last = model.classifier[-1]
            model.classifier[-1] = nn.Linear(last.in_features, num_classes)
    return model


def _adapted_stem_conv(conv: nn.Conv2d, in_channels: int, pretrained: bool) -> nn.Conv2d:
    """Same conv for a different number of input channels. Pretrained RGB filters are
    averaged over colour so that grey (or any) input starts from the learnt edges."""
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode)
    if pretrained:
        with torch.no_grad():
            new.weight.copy_(conv.weight.mean(dim=1, keepdim=True).expand_as(new.weight))
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
    return new


def _resnet_parts(model) -> tuple[list[nn.Module], nn.Module]:
    blocks: list[nn.Module] = [nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)]
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        blocks.extend(layer.children())
    return blocks, nn.Sequential(model.avgpool, nn.Flatten(1), model.fc)


def _features_parts(model, flatten_stages: bool) -> tuple[list[nn.Module], nn.Module]:
    """`features`-style models; EfficientNet groups its MBConvs per stage, and those
    are split into single blocks so LAKD can cut between them."""
    blocks: list[nn.Module] = []
    for child in model.features.children():
        # Stage containers are plain Sequentials; stem and last conv are Conv2dNormActivation.
        is_stage = flatten_stages and type(child) is nn.Sequential
        blocks.extend(child.children() if is_stage else [child])
    # MobileNetV2 pools in its forward() rather than with a module.
    pool = model.avgpool if hasattr(model, "avgpool") else nn.AdaptiveAvgPool2d(1)
    return blocks, nn.Sequential(pool, nn.Flatten(1), model.classifier)


def torchvision_staged(name: str, num_classes: int = 10, in_channels: int = 3, input_size: int = 224,
                       pretrained: bool = False) -> StagedNet:
    model = _build(name, num_classes, pretrained)
    if name.startswith("resnet"):
        if in_channels != 3:
            model.conv1 = _adapted_stem_conv(model.conv1, in_channels, pretrained)
        blocks, head = _resnet_parts(model)
    else:
        if in_channels != 3:
            stem = model.features[0]
            stem[0] = _adapted_stem_conv(stem[0], in_channels, pretrained)
        blocks, head = _features_parts(model, flatten_stages=name.startswith("efficientnet"))
    stage_ends = stage_ends_from_resolution(blocks, in_channels, input_size)
    return StagedNet(blocks, head, stage_ends, arch=name, num_classes=num_classes,
                     in_channels=in_channels, input_size=input_size)


MODELS = {name: partial(torchvision_staged, name) for name in
          ("resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0")}
