"""Every model in the zoo must honour the StagedNet contract that LAKD and the
methods rely on, and the CIFAR zoo must match the literature's shapes and sizes."""
import pytest
import torch

from lakd.models import build_model, is_cifar_model, model_names, stage_ends_from_resolution

TORCHVISION_INPUT = 64  # small enough to keep the suite fast, big enough for 4 resolutions


def _check_contract(net, in_channels: int, size: int, min_stages: int):
    net.eval()
    x = torch.randn(2, in_channels, size, size)
    with torch.no_grad():
        feats, logits = net.forward_stages(x)
        plain_logits = net(x)
    assert logits.shape == (2, 7)
    assert len(feats) == len(net.stage_ends) >= min_stages
    sides = [f.shape[-1] for f in feats]
    assert sides == sorted(sides, reverse=True), f"stage sizes grow: {sides}"
    assert torch.allclose(plain_logits, logits, atol=1e-5)


def _build(name: str, in_channels: int = 3):
    if is_cifar_model(name):
        return build_model(name, num_classes=7, in_channels=in_channels), 32, 3
    return build_model(name, num_classes=7, in_channels=in_channels, input_size=TORCHVISION_INPUT), TORCHVISION_INPUT, 2


@pytest.mark.parametrize("name", model_names())
def test_every_model_keeps_the_staged_contract(name):
    net, size, min_stages = _build(name)
    _check_contract(net, 3, size, min_stages)


@pytest.mark.parametrize("name", ["resnet8", "resnet18", "mobilenet_v3_small"])
def test_single_channel_input(name):
    net, size, min_stages = _build(name, in_channels=1)
    _check_contract(net, 1, size, min_stages)


EXPECTED_STAGE_SHAPES = {
    "resnet8": [(16, 32, 32), (32, 16, 16), (64, 8, 8)],
    "resnet20": [(16, 32, 32), (32, 16, 16), (64, 8, 8)],
    "resnet8x4": [(64, 32, 32), (128, 16, 16), (256, 8, 8)],
    "wrn_16_2": [(32, 32, 32), (64, 16, 16), (128, 8, 8)],
}


@pytest.mark.parametrize("name,shapes", EXPECTED_STAGE_SHAPES.items())
def test_stage_shapes(name, shapes):
    net = build_model(name).eval()
    with torch.no_grad():
        feats, _ = net.forward_stages(torch.zeros(1, 3, 32, 32))
    assert [tuple(f.shape[1:]) for f in feats] == shapes


# Parameter counts for 10 classes, in millions, as reported in the KD literature.
EXPECTED_PARAMS = {
    "resnet20": (0.26, 0.28),
    "resnet8": (0.07, 0.09),
    "resnet32x4": (7.3, 7.5),
    "resnet8x4": (1.1, 1.3),
    "wrn_40_2": (2.1, 2.3),
    "wrn_16_2": (0.65, 0.72),
}


@pytest.mark.parametrize("name,bounds", EXPECTED_PARAMS.items())
def test_parameter_counts(name, bounds):
    millions = sum(p.numel() for p in build_model(name, num_classes=10).parameters()) / 1e6
    assert bounds[0] <= millions <= bounds[1], f"{name}: {millions:.3f}M"


def test_unknown_name_lists_valid_models():
    with pytest.raises(ValueError) as error:
        build_model("resnet9000")
    message = str(error.value)
    assert "resnet9000" in message
    assert all(name in message for name in model_names())


def test_finding_stages_keeps_train_and_eval_modes():
    net = build_model("mobilenet_v3_small", num_classes=7, input_size=TORCHVISION_INPUT)
    assert all(m.training for m in net.modules())
    frozen = set(net.blocks[2].block[0].modules())
    net.blocks[2].block[0].eval()
    stage_ends_from_resolution(list(net.blocks), 3, TORCHVISION_INPUT)
    assert not any(m.training for m in frozen)
    assert all(m.training for m in net.modules() if m not in frozen)


def test_lone_stem_is_folded_into_the_next_stage():
    # MobileNetV3-small's stem and first block each halve the resolution.
    net = build_model("mobilenet_v3_small", num_classes=7, input_size=224)
    assert net.stage_ends[0] == 1
