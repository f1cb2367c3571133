"""Distillation losses checked against numbers written out by hand, and the AT,
FitNet and DKD methods checked for the behaviour the benchmark protocol relies on."""
import math

import pytest
import torch
import torch.nn.functional as F

from lakd.methods import METHODS, MethodError
from lakd.methods.losses import at_loss, dkd_loss, kd_loss
from lakd.models import build_model


def softmax_by_hand(z: torch.Tensor) -> torch.Tensor:
    e = torch.exp(z)
    return e / e.sum(dim=1, keepdim=True)


def kl_by_hand(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Per-row KL(p || q)."""
    return (p * (torch.log(p) - torch.log(q))).sum(dim=1)


# ---------------------------------------------------------------- kd_loss

def test_kd_loss_matches_hand_computation():
    s = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 2.0]], dtype=torch.float64)
    t = torch.tensor([[3.0, 2.0, 1.0], [0.5, 0.5, 1.0]], dtype=torch.float64)
    T = 2.0
    p_t, p_s = softmax_by_hand(t / T), softmax_by_hand(s / T)
    expected = kl_by_hand(p_t, p_s).sum() / 2 * T ** 2
    got = kd_loss(s, t, T)
    assert got.item() == pytest.approx(expected.item(), rel=1e-10)
    # row 0 alone, with plain Python floats: a second, independent route to the number
    e_t = [math.exp(v / T) for v in (3.0, 2.0, 1.0)]
    e_s = [math.exp(v / T) for v in (1.0, 2.0, 3.0)]
    pt = [v / sum(e_t) for v in e_t]
    ps = [v / sum(e_s) for v in e_s]
    row0 = sum(a * math.log(a / b) for a, b in zip(pt, ps)) * T ** 2
    assert kd_loss(s[:1], t[:1], T).item() == pytest.approx(row0, rel=1e-10)
    assert row0 == pytest.approx(1.28063, abs=1e-5)


def test_kd_loss_is_zero_for_identical_logits():
    z = torch.randn(4, 10)
    assert kd_loss(z, z.clone(), 4.0).abs().item() < 1e-6


# ---------------------------------------------------------------- dkd_loss

DKD_S = torch.tensor([[2.0, 1.0, 0.0], [0.5, 1.5, -1.0]], dtype=torch.float64)
DKD_T = torch.tensor([[3.0, 0.0, 1.0], [0.0, 2.0, 0.5]], dtype=torch.float64)
DKD_Y = torch.tensor([0, 1])


def dkd_parts_by_hand(T: float) -> tuple[float, float]:
    """Batch-mean TCKD and NCKD (each times T^2) written out with exp and sums."""
    tckd, nckd = 0.0, 0.0
    for i, y in enumerate(DKD_Y.tolist()):
        zs, zt = DKD_S[i] / T, DKD_T[i] / T
        es, et = torch.exp(zs), torch.exp(zt)
        ps_target, pt_target = es[y] / es.sum(), et[y] / et.sum()
        b_s = torch.stack([ps_target, 1 - ps_target])
        b_t = torch.stack([pt_target, 1 - pt_target])
        tckd += (b_t * torch.log(b_t / b_s)).sum().item()
        others = [k for k in range(3) if k != y]
        q_s = es[others] / es[others].sum()
        q_t = et[others] / et[others].sum()
        nckd += (q_t * torch.log(q_t / q_s)).sum().item()
    n = len(DKD_Y)
    return tckd / n * T ** 2, nckd / n * T ** 2


def test_dkd_loss_matches_hand_computation():
    T, alpha, beta = 2.0, 1.0, 8.0
    tckd, nckd = dkd_parts_by_hand(T)
    assert tckd > 0 and nckd > 0
    got = dkd_loss(DKD_S, DKD_T, DKD_Y, alpha, beta, T).item()
    assert got == pytest.approx(alpha * tckd + beta * nckd, rel=1e-6)
    assert tckd == pytest.approx(0.061256, abs=1e-6) and nckd == pytest.approx(0.491135, abs=1e-6)
    assert got == pytest.approx(3.990335, abs=1e-6)


def test_dkd_loss_with_beta_zero_is_tckd_only():
    T = 2.0
    tckd, nckd = dkd_parts_by_hand(T)
    got = dkd_loss(DKD_S, DKD_T, DKD_Y, 1.0, 0.0, T).item()
    assert got == pytest.approx(tckd, rel=1e-6)
    assert abs(got - (tckd + nckd)) > 0.1  # the NCKD part really was left out


def test_dkd_loss_is_finite_for_confident_logits():
    s = torch.tensor([[60.0, -60.0, 0.0]])
    t = torch.tensor([[-60.0, 60.0, 0.0]])
    assert torch.isfinite(dkd_loss(s, t, torch.tensor([0]), 1.0, 8.0, 1.0))


# ---------------------------------------------------------------- at_loss

def test_at_loss_is_zero_for_identical_features():
    f = torch.randn(2, 8, 4, 4)
    assert at_loss(f, f.clone()).item() == 0.0


def test_at_loss_ignores_channel_order_and_sign():
    torch.manual_seed(0)
    s, t = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)
    base = at_loss(s, t)
    assert base.item() > 0
    perm = torch.randperm(8)
    assert at_loss(s[:, perm], t).item() == pytest.approx(base.item(), rel=1e-5)
    assert at_loss(-s, t).item() == pytest.approx(base.item(), rel=1e-6)
    assert at_loss(s, -t[:, perm]).item() == pytest.approx(base.item(), rel=1e-5)
    # with an odd exponent only the |F| in the map makes the sign irrelevant
    assert at_loss(-s, t, p=1).item() == pytest.approx(at_loss(s, t, p=1).item(), rel=1e-6)


def test_at_loss_matches_hand_computation():
    s = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    t = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    # p = 2: maps are the squares, L2-normalised; the loss is the mean over 4 positions
    a_s = [v / math.sqrt(1 + 16 + 81 + 256) for v in (1.0, 4.0, 9.0, 16.0)]
    a_t = [v / math.sqrt(2) for v in (1.0, 0.0, 0.0, 1.0)]
    expected = sum((a - b) ** 2 for a, b in zip(a_s, a_t)) / 4
    assert expected == pytest.approx(0.180550, abs=1e-6)
    assert at_loss(s, t, p=2).item() == pytest.approx(expected, rel=1e-6)


def test_at_loss_pools_the_larger_grid():
    torch.manual_seed(1)
    s, t = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 4, 4)
    got = at_loss(s, t)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(at_loss(F.avg_pool2d(s, 2), t).item(), rel=1e-6)
    assert at_loss(t, s).item() == pytest.approx(at_loss(t, F.avg_pool2d(s, 2)).item(), rel=1e-6)


# ---------------------------------------------------------------- methods

@pytest.fixture
def nets():
    torch.manual_seed(0)
    return build_model("resnet8", num_classes=10), build_model("resnet20", num_classes=10)


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))


def test_methods_are_registered():
    assert {"at", "fitnet", "dkd"} <= set(METHODS)


def test_at_method_losses(nets, batch):
    method = METHODS["at"](*nets)
    _, losses = method.forward_train(*batch, epoch=1)
    assert set(losses) == {"ce", "at"}
    assert all(torch.isfinite(v) and v.item() > 0 for v in losses.values())


def test_fitnet_regressor_trains_and_teacher_stays_frozen(nets, batch):
    student, teacher = nets
    method = METHODS["fitnet"](student, teacher)
    trainable = {id(p) for p in method.trainable_parameters()}
    regressor_params = list(method.regressor.parameters())
    assert regressor_params and all(id(p) in trainable for p in regressor_params)
    assert method.regressor[0].in_channels == 32 and method.regressor[0].out_channels == 32
    assert all(not p.requires_grad for p in teacher.parameters())
    assert not any(id(p) in trainable for p in teacher.parameters())

    logits, losses = method.forward_train(*batch, epoch=1)
    assert logits.shape == (4, 10) and set(losses) == {"ce", "hint"}
    sum(losses.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in regressor_params)
    assert all(p.grad is None for p in teacher.parameters())


def test_fitnet_channel_probe_leaves_models_untouched(nets):
    student, teacher = nets
    student.train()
    before = {k: v.clone() for k, v in student.state_dict().items()}
    METHODS["fitnet"](student, teacher)
    assert student.training and all(m.training for m in student.modules())
    after = student.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())  # BN statistics included


@pytest.mark.parametrize("stage", [-1, 3, 1.5])
def test_fitnet_refuses_a_hint_stage_outside_both_nets(nets, stage):
    params = METHODS["fitnet"].Params(hint_stage=stage)
    with pytest.raises(MethodError, match="hint_stage"):
        METHODS["fitnet"](*nets, params)


def test_dkd_warmup_halves_the_loss_in_epoch_one(nets, batch):
    method = METHODS["dkd"](*nets)
    _, first = method.forward_train(*batch, epoch=1)
    _, third = method.forward_train(*batch, epoch=3)
    assert set(first) == {"ce", "dkd"}
    assert third["dkd"].item() > 0
    assert torch.equal(first["dkd"] * 2, third["dkd"])


@pytest.mark.parametrize("name,field", [
    ("at", "ce_weight"), ("at", "feat_weight"),
    ("fitnet", "ce_weight"), ("fitnet", "feat_weight"),
    ("dkd", "ce_weight"), ("dkd", "alpha"), ("dkd", "beta"), ("dkd", "warmup_epochs"),
])
@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_methods_refuse_negative_and_nan_weights(nets, name, field, bad):
    cls = METHODS[name]
    with pytest.raises(MethodError, match=field):
        cls(*nets, cls.Params(**{field: bad}))


@pytest.mark.parametrize("name,field", [("at", "p"), ("dkd", "temperature")])
def test_methods_refuse_non_positive_exponent_and_temperature(nets, name, field):
    cls = METHODS[name]
    with pytest.raises(MethodError, match=field):
        cls(*nets, cls.Params(**{field: 0.0}))
