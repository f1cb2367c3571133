"""Model zoo: CIFAR architectures of the KD literature and torchvision classifiers,
all built as a `StagedNet` so that methods and the app can reach their stages."""
from __future__ import annotations

from .staged import StagedNet, stage_ends_from_resolution
from . import resnet

_REGISTRY: dict = {}
_REGISTRY.update(resnet.MODELS)

try:  # the rest of the CIFAR zoo, each file adds its MODELS
    from . import wrn, vgg, mobilenetv2, shufflenet  # noqa: F401
    for _mod in (wrn, vgg, mobilenetv2, shufflenet):
        _REGISTRY.update(_mod.MODELS)
except ImportError:  # pragma: no cover - while the zoo is being filled in
    pass

try:
    from . import torchvision_models
    TORCHVISION_MODELS = torchvision_models.MODELS
except ImportError:  # pragma: no cover
    TORCHVISION_MODELS = {}


def model_names() -> list[str]:
    return sorted(_REGISTRY) + sorted(TORCHVISION_MODELS)


def build_model(name: str, num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
                pretrained: bool = False) -> StagedNet:
    """Build a model by name. CIFAR zoo models take 32x32 input; torchvision models
    take any size (`input_size` is used to find their stages)."""
    if name in _REGISTRY:
        if pretrained:
            raise ValueError(f"no pretrained weights exist for the CIFAR zoo model {name!r}")
        return _REGISTRY[name](num_classes=num_classes, in_channels=in_channels)
    if name in TORCHVISION_MODELS:
        return TORCHVISION_MODELS[name](num_classes=num_classes, in_channels=in_channels,
                                        input_size=input_size, pretrained=pretrained)
    raise ValueError(f"unknown model {name!r}; valid models: {', '.join(model_names())}")


def is_cifar_model(name: str) -> bool:
    return name in _REGISTRY


__all__ = ["StagedNet", "build_model", "model_names", "is_cifar_model", "stage_ends_from_resolution"]
