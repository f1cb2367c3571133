"""Loss functions as plain functions of tensors, so they can be checked on known numbers."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al.: T^2 * KL(softmax(z_T/T) || softmax(z_S/T)), averaged over the batch."""
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * temperature ** 2


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """Half-precision inputs (AMP) are lifted to float32 for the pow/exp; float64 stays float64."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def attention_map(feat: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W): channel mean of |F|^p, L2-normalised per image.
    Magnitudes only, so it ignores channel order and sign; normalised, so it ignores scale."""
    return F.normalize(at_least_float32(feat).abs().pow(p).mean(dim=1).flatten(1), dim=1)


def at_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Attention transfer (Zagoruyko & Komodakis, 2017): mean squared difference of the
    normalised attention maps, over batch and positions (hence the usual weight of 1000).
    Feature maps on different grids are average-pooled to the smaller grid first, so
    the comparison only ever coarsens, never invents detail."""
    grid = (min(student_feat.shape[-2], teacher_feat.shape[-2]), min(student_feat.shape[-1], teacher_feat.shape[-1]))
    if tuple(student_feat.shape[-2:]) != grid:
        student_feat = F.adaptive_avg_pool2d(student_feat, grid)
    if tuple(teacher_feat.shape[-2:]) != grid:
        teacher_feat = F.adaptive_avg_pool2d(teacher_feat, grid)
    return (attention_map(student_feat, p) - attention_map(teacher_feat, p)).pow(2).mean()


def dkd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor,
             alpha: float, beta: float, temperature: float) -> torch.Tensor:
    """Decoupled KD (Zhao et al., CVPR 2022): alpha * TCKD + beta * NCKD, each times T^2,
    averaged over the batch. TCKD is the binary KL on (target, all other classes);
    NCKD is the KL among the non-target classes only, so the teacher's dark knowledge
    is not damped by its confidence on the target class."""
    z_s = at_least_float32(student_logits) / temperature
    z_t = at_least_float32(teacher_logits) / temperature
    target_mask = F.one_hot(target, z_s.shape[1]).bool()

    def binary_log_probs(z: torch.Tensor) -> torch.Tensor:
        # log p(target) and log p(not target), via logsumexp so neither underflows to log(0)
        log_all = torch.logsumexp(z, dim=1)
        log_target = z[target_mask] - log_all
        log_rest = torch.logsumexp(z.masked_fill(target_mask, float("-inf")), dim=1) - log_all
        return torch.stack([log_target, log_rest], dim=1)

    tckd = F.kl_div(binary_log_probs(z_s), binary_log_probs(z_t), reduction="batchmean", log_target=True)
    log_q_s = F.log_softmax(z_s - 1000.0 * target_mask, dim=1)
    log_q_t = F.log_softmax(z_t - 1000.0 * target_mask, dim=1)
    nckd = F.kl_div(log_q_s, log_q_t, reduction="batchmean", log_target=True)
    return (alpha * tckd + beta * nckd) * temperature ** 2
