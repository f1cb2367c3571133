"""Non-directional activation maps (NDAM): where a network's features are strong.

A(F) = mean over channels of |F_c|^p, flattened and L2-normalised. Built from
magnitudes only, so the map does not change when a feature's sign flips or its
channels are permuted, and it needs no target class (unlike Grad-CAM). Maps of
different grids are compared after adaptive average pooling to the smaller grid.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import load_state_dict_file, save_weights


def activation_map(feat: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """(B, C, H, W) -> (B, H, W): channel mean of |F|^p, not normalised."""
    feat = feat.float()
    if p == 2:  # square keeps only its input for backward, which the network keeps anyway
        return feat.square().mean(dim=1)
    return feat.abs().pow(p).mean(dim=1)


def pool_to(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.adaptive_avg_pool2d(maps.unsqueeze(1), size).squeeze(1)


def ndam(feat: torch.Tensor, p: float = 2.0, size: tuple[int, int] | None = None) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W) L2-normalised map, optionally pooled to `size` first."""
    maps = activation_map(feat, p)
    if size is not None:
        maps = pool_to(maps, size)
    return F.normalize(maps.flatten(1), dim=1)


def smaller_grid(a: torch.Tensor, b: torch.Tensor) -> tuple[int, int]:
    ha, wa = a.shape[-2:]
    hb, wb = b.shape[-2:]
    return (ha, wa) if ha * wa <= hb * wb else (hb, wb)


def map_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """|| A(s) - A(t) ||^2 per image (sum over positions), averaged over the batch."""
    return map_loss_to_map(student_feat, activation_map(teacher_feat, p), p)


def map_loss_to_map(student_feat: torch.Tensor, teacher_map: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """`map_loss` against the teacher's un-normalised activation map (B, H, W) rather than
    its features: what a teacher pack stores, since the map is all this loss needs."""
    grid = smaller_grid(student_feat, teacher_map)
    teacher_ndam = F.normalize(pool_to(teacher_map.float(), grid).flatten(1), dim=1)
    return (ndam(student_feat, p, grid) - teacher_ndam).pow(2).sum(dim=1).mean()


def display_maps(feats: list[torch.Tensor], p: float = 2.0) -> list[torch.Tensor]:
    """Per-stage maps (B, H, W) scaled to [0, 1] per image, for pictures."""
    return scale_per_image([activation_map(f.detach(), p) for f in feats])


def scale_per_image(maps: list[torch.Tensor]) -> list[torch.Tensor]:
    """Activation maps (B, H, W) scaled to [0, 1] per image, on the CPU."""
    out = []
    for m in maps:
        lo = m.flatten(1).min(1).values.view(-1, 1, 1)
        hi = m.flatten(1).max(1).values.view(-1, 1, 1)
        out.append(((m - lo) / (hi - lo).clamp_min(1e-12)).cpu())
    return out


@torch.no_grad()
def model_maps(model, images: torch.Tensor, p: float = 2.0, batch_size: int = 64) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A model's per-stage display maps and logits for `images` (eval mode, no grad)."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    stage_chunks, logits = None, []
    for i in range(0, len(images), batch_size):
        feats, z = model.forward_stages(images[i:i + batch_size].to(device))
        maps = display_maps(feats, p)
        stage_chunks = [[m] for m in maps] if stage_chunks is None else [c + [m] for c, m in zip(stage_chunks, maps)]
        logits.append(z.cpu())
    model.train(was)
    return [torch.cat(c) for c in stage_chunks], torch.cat(logits)


def probe_batch(dataset, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n images of a data set: the fixed images whose maps are tracked."""
    n = min(n, len(dataset))
    xs, ys = zip(*(dataset[i] for i in range(n)))
    return torch.stack(xs), torch.as_tensor(ys)


MAPS_DIR = "maps"


def save_epoch_maps(run_path: Path, epoch: int, maps: list[torch.Tensor], who: str = "student") -> Path:
    """Store one model's display maps at one epoch: maps/<who>_epoch<NNN>.safetensors."""
    path = Path(run_path) / MAPS_DIR / f"{who}_epoch{epoch:03d}.safetensors"
    save_weights(path, {f"stage{k}": m.half() for k, m in enumerate(maps)}, {"epoch": epoch, "who": who})
    return path


def load_epoch_maps(run_path: Path, who: str = "student") -> dict[int, list[torch.Tensor]]:
    """{epoch: [stage maps (B, H, W)]} saved during a run; empty when none were saved."""
    out = {}
    for path in sorted((Path(run_path) / MAPS_DIR).glob(f"{who}_epoch*.safetensors")):
        tensors, meta = load_state_dict_file(path)
        out[int(meta["epoch"])] = [tensors[f"stage{k}"].float() for k in range(len(tensors))]
    return out
