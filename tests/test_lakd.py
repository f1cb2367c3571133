"""LAKD's defining properties: gradients stay inside their module, the two execution
modes agree, NDAM maps ignore sign and channel order, and a short run learns."""
from __future__ import annotations

import copy

import pytest
import torch

from lakd import api
from lakd.checkpoint import load_model
from lakd.config import RunConfig
from lakd.maps import map_loss, ndam, pool_to, activation_map
from lakd.methods import MethodError
from lakd.methods.lakd import LAKD, LAKDParams, weighted_feature_loss
from lakd.models import build_model
from lakd.trainer import bundled_teacher_path


def make_method(student="resnet8", teacher="resnet20", **params):
    """LAKD with its modules decoupled (SDM on) unless a test says otherwise."""
    params.setdefault("sdm", True)
    torch.manual_seed(0)
    return LAKD(build_model(student), build_model(teacher), LAKDParams(**params), epochs=4).train()


def batch(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def module_params(m: LAKD, k: int) -> set[str]:
    """Names of the parameters that module k's loss is allowed to train."""
    first, last = m.modules_blocks[k]
    names = {f"student.blocks.{i}." for i in range(first, last + 1)}
    names.add("student.head." if k == len(m.modules_blocks) - 1 else f"heads.{k}.")
    if m.regressors is not None:
        names.add(f"regressors.{k}.")
    return {n for n, _ in m.named_parameters() if any(n.startswith(p) for p in names)}


def per_module_losses(m: LAKD, x, y, epoch=1):
    teacher = m.teacher_outputs(x)
    h, out = x, []
    for k in range(len(m.modules_blocks)):
        s = m.run_module(k, h)
        _, losses = m.module_loss(k, s, teacher, y, epoch)
        out.append(sum(losses.values()))
        h = s.detach() if m.decoupled(epoch) else s
    return out


@pytest.mark.parametrize("partition,d", [("stage", 0.0), ("block", 1.0), ("2", 1.0)])
def test_each_module_loss_trains_only_its_own_module(partition, d):
    m = make_method("resnet14", partition=partition, d=d)
    x, y = batch()
    losses = per_module_losses(m, x, y)
    assert len(losses) == len(m.modules_blocks) >= 2
    for k, loss in enumerate(losses):
        m.zero_grad(set_to_none=True)
        loss.backward(retain_graph=True)
        touched = {n for n, p in m.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        own = module_params(m, k)
        assert touched, f"module {k} got no gradient"
        assert touched <= own, f"module {k}'s loss leaked into {sorted(touched - own)[:3]}"
        assert not any(p.grad is not None for p in m.teacher.parameters())


def test_without_sdm_the_last_loss_reaches_the_first_module():
    """The ablation switch really removes the stop-gradient (and shows the test above can fail)."""
    m = make_method(sdm=False)
    losses = per_module_losses(m, *batch())
    m.zero_grad(set_to_none=True)
    losses[-1].backward()
    assert m.student.blocks[0][0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("params", [dict(partition="stage"), dict(partition="block", d=2.0),
                                    dict(partition="stage", progressive=True, aux_kd=False)])
def test_joint_and_local_backward_give_the_same_gradients(params):
    m = make_method("resnet14", **params)
    assert m.decoupled(2)  # otherwise local mode would fall back to joint and prove nothing
    x, y = batch(8)
    state = copy.deepcopy(m.state_dict())
    grads = {}
    for mode in ("joint", "local"):
        m.load_state_dict(state)
        m.params.mode = mode
        m.zero_grad(set_to_none=True)
        logits, losses = m.train_step(x, y, 2, lambda loss: loss.backward())
        grads[mode] = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
        assert logits.shape == (8, 10)
    assert grads["joint"].keys() == grads["local"].keys()
    for name in grads["joint"]:
        torch.testing.assert_close(grads["joint"][name], grads["local"][name], rtol=1e-5, atol=1e-7, msg=name)


def test_ndam_ignores_sign_and_channel_order():
    torch.manual_seed(0)
    f = torch.randn(3, 8, 6, 6)
    flipped = f * torch.where(torch.rand(1, 8, 1, 1) > 0.5, 1.0, -1.0)
    permuted = f[:, torch.randperm(8)]
    torch.testing.assert_close(ndam(f), ndam(flipped))
    torch.testing.assert_close(ndam(f), ndam(permuted))
    assert map_loss(f, permuted).item() == pytest.approx(0.0, abs=1e-10)
    assert map_loss(f, torch.randn(3, 8, 6, 6)).item() > 0.01
    torch.testing.assert_close(ndam(f).norm(dim=1), torch.ones(3))


def test_ndam_known_values_and_resize():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # A = [1, 4, 9, 16] / ||.||
    expected = torch.tensor([1.0, 4.0, 9.0, 16.0]) / (1 + 16 + 81 + 256) ** 0.5
    torch.testing.assert_close(ndam(f)[0], expected)
    big, small = torch.randn(2, 4, 8, 8), torch.randn(2, 5, 4, 4)
    by_hand = (torch.nn.functional.normalize(pool_to(activation_map(big), (4, 4)).flatten(1), dim=1)
               - ndam(small)).pow(2).sum(1).mean()
    torch.testing.assert_close(map_loss(big, small), by_hand)
    torch.testing.assert_close(map_loss(small, big), by_hand)


def test_weighted_feature_loss_uses_the_teacher_map():
    t = torch.zeros(1, 2, 2, 2)
    t[0, :, 0, 0] = 1.0  # all the teacher's activation sits at one position
    s = t.clone()
    s[0, :, 1, 1] = 5.0  # the student differs only where the teacher is silent
    assert weighted_feature_loss(s, t).item() == pytest.approx(0.0)
    s2 = t.clone()
    s2[0, 0, 0, 0] = 3.0  # differs where the teacher is active: squared error 4
    assert weighted_feature_loss(s2, t).item() == pytest.approx(4.0)


@pytest.mark.parametrize("bad,match", [
    (dict(g=-1.0), "g must be >= 0"), (dict(b=float("nan")), "b must be a finite"),
    (dict(temperature=0.0), "temperature must be > 0"), (dict(partition="9"), "does not fit resnet8"),
    (dict(partition="fine"), "not valid"), (dict(mode="local", sdm=False), "needs sdm"),
    (dict(mode="sideways"), "mode must be"),
])
def test_invalid_settings_are_refused(bad, match):
    with pytest.raises(MethodError, match=match):
        make_method(**bad)


def test_teacher_and_student_of_different_families():
    m = make_method("mobilenetv2", "resnet32x4", d=1.0)
    assert len(m.teacher_stage) == len(m.modules_blocks)
    teacher_grids = [shape[1:] for shape in m.teacher_shapes]  # 32, 16, 8
    for k, t in enumerate(m.teacher_stage):  # same grid where the teacher has it, else the nearest
        grid = m.module_shapes[k][1:]
        assert m.teacher_shapes[t][1:] == (grid if grid in teacher_grids else (8, 8))
    x, y = batch(4)
    _, losses = m.train_step(x, y, 1, lambda loss: loss.backward())
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


def test_short_lakd_run_learns_and_saves_the_bare_student(runs_dir):
    assert bundled_teacher_path().exists(), "the bundled teacher is part of the repository"
    cfg = RunConfig(method="lakd", student="resnet8", teacher="bundled", epochs=2, batch_size=32, lr=0.1,
                    method_params={"mode": "local", "sdm": True})
    run, rows = api.train(cfg, runs_dir)
    assert rows[-1]["test_acc"] > 0.5, rows
    assert any(k.startswith("loss_m1_map") for k in rows[-1])
    student = load_model(run.student_checkpoint)
    fresh = build_model("resnet8")
    assert student.state_dict().keys() == fresh.state_dict().keys()  # no heads, no regressors


def test_maps_are_saved_at_the_chosen_epochs(runs_dir):
    from lakd.maps import load_epoch_maps

    cfg = RunConfig(method="lakd", student="resnet8", teacher="bundled", epochs=3, per_class=5, batch_size=25,
                    max_steps_per_epoch=1, map_epochs=[2])
    run, _ = api.train(cfg, runs_dir)
    student = load_epoch_maps(run.path, "student")
    assert sorted(student) == [0, 2, 3]  # the start, the chosen epoch, the end
    assert [m.shape for m in student[2]] == [(16, 32, 32), (16, 16, 16), (16, 8, 8)]
    teacher = load_epoch_maps(run.path, "teacher")
    assert list(teacher) == [0] and all(0 <= m.min() and m.max() <= 1 for m in teacher[0])


def test_torchvision_teacher_and_student_of_different_families():
    torch.manual_seed(0)
    teacher = build_model("resnet18", num_classes=10, input_size=64)
    student = build_model("mobilenet_v3_small", num_classes=10, input_size=64)
    m = LAKD(student, teacher, LAKDParams(d=1.0, sdm=True, mode="local"), epochs=2).train()
    x, y = torch.randn(4, 3, 64, 64), torch.randint(0, 10, (4,))
    logits, losses = m.train_step(x, y, 1, lambda loss: loss.backward())
    assert logits.shape == (4, 10)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert any(k.endswith("_feat") for k in losses) and any(k.endswith("_map") for k in losses)
    assert all(p.grad is not None for p in m.regressors.parameters())  # channel mismatch bridged
