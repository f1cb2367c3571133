"""Data-parallel training under `torchrun`: the same engine, one process per device.

    torchrun --nproc_per_node N -m lakd distill --config recipes/...

Nothing here is used by a single process (no WORLD_SIZE in the environment, or 1): the
trainer then runs exactly as before. Under torchrun:

- process group: nccl on CUDA (device cuda:LOCAL_RANK), gloo on CPU.
- data: `ShardedBatchSampler` shuffles the indices exactly as the single process does
  (one `randperm` from the trainer's per-epoch seed), cuts them into the same global
  batches, and gives each rank a contiguous share of each one. The union of the ranks'
  batches at every step is the single-process batch; `--batch-size` stays the global batch.
- gradients: averaged by hand, after the method's `train_step` and before the optimizer
  step (`sync_gradients`: flattened buckets, one all-reduce each). Not DDP's wrapper: a
  method drives its own backward passes (LAKD's local mode calls backward once per local
  module, each on a different sub-graph), which DDP's reducer cannot follow without one
  wrapper per module and `no_sync` bookkeeping per method. A reduction after the last
  backward is correct for every method and mode; what it gives up is DDP's overlap of
  communication with backward, small next to a step for these model sizes.
- BatchNorm: statistics over the global batch, so N processes train like one. On CUDA
  the student's (and the method's heads') BatchNorm layers become `torch.nn.SyncBatchNorm`;
  PyTorch's SyncBatchNorm refuses CPU tensors, so on CPU they become `GlobalBatchNorm`
  below (the same mathematics with differentiable all-reduces). The frozen teacher runs
  in eval mode and needs neither.
- evaluation: each rank scores every N-th test image; the counts are summed.
- the run store: rank 0 alone creates the run folder and writes config, status, metrics,
  checkpoints and maps; the run id is broadcast to the other ranks.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

_CONTEXT: "DistContext | None" = None


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device_spec: str = "auto") -> DistContext:
    """Join the process group torchrun prepared (once per process); a single process gets
    rank 0 of 1 and touches nothing."""
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    if not launched_by_torchrun():
        _CONTEXT = DistContext()
        return _CONTEXT
    import torch.distributed as dist

    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    use_cuda = device_spec != "cpu" and torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend, device_id=torch.device("cuda", local) if use_cuda else None)
    _CONTEXT = DistContext(rank, world, local, backend)
    return _CONTEXT


def context() -> DistContext:
    return _CONTEXT if _CONTEXT is not None else DistContext()


def shutdown() -> None:
    global _CONTEXT
    if _CONTEXT is not None and _CONTEXT.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    _CONTEXT = None


def broadcast_object(obj, ctx: DistContext):
    """Rank 0's `obj` on every rank (a run id, an error message)."""
    if not ctx.enabled:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any (a stop request seen by rank 0)."""
    if not ctx.enabled:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def broadcast_module(module: nn.Module, ctx: DistContext) -> None:
    """Rank 0's parameters and buffers everywhere (same seed gives the same init; this makes sure)."""
    if not ctx.enabled:
        return
    import torch.distributed as dist

    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


class ShardedBatchSampler:
    """Global batches exactly as the single process draws them, each split over the ranks.

    The single process iterates `DataLoader(dataset, batch_size, shuffle=True, generator=g)`;
    here the same loader runs over the indices `range(n)` (so its random draws are the
    same, whatever DataLoader does with the generator internally), and each global batch
    is split into `world_size` contiguous shares (sizes differ by at most one). A last
    global batch smaller than `world_size` is dropped, so no rank gets an empty batch.
    """

    def __init__(self, n: int, batch_size: int, rank: int, world_size: int, seed: int):
        self.n, self.batch_size, self.rank, self.world_size, self.seed = n, batch_size, rank, world_size, seed

    def global_batches(self):
        from torch.utils.data import DataLoader

        gen = torch.Generator().manual_seed(self.seed)
        for batch in DataLoader(range(self.n), batch_size=self.batch_size, shuffle=True, generator=gen):
            if len(batch) >= self.world_size:
                yield batch.tolist()

    def share(self, batch: list[int], rank: int) -> list[int]:
        q, r = divmod(len(batch), self.world_size)
        lo = rank * q + min(rank, r)
        return batch[lo:lo + q + (1 if rank < r else 0)]

    def __iter__(self):
        for batch in self.global_batches():
            yield self.share(batch, self.rank)

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest >= self.world_size else 0)

    def global_size(self, step: int) -> int:
        """Images in the global batch of 0-based `step`."""
        return min(self.batch_size, self.n - step * self.batch_size)


def loss_weight(local: int, global_size: int, ctx: DistContext) -> float:
    """Factor for a rank's batch-mean loss so that averaging gradients over ranks gives the
    gradient of the global batch mean, also when shares differ in size (the last batch)."""
    return local * ctx.world_size / global_size


def _buckets(tensors: list[torch.Tensor], cap_bytes: int):
    bucket, size = [], 0
    for t in tensors:
        if bucket and (size + t.numel() * t.element_size() > cap_bytes or t.dtype != bucket[0].dtype
                       or t.device != bucket[0].device):
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += t.numel() * t.element_size()
    if bucket:
        yield bucket


def sync_gradients(params, ctx: DistContext, bucket_mb: float = 25.0) -> None:
    """Average the gradients of `params` over ranks, in place: flattened buckets of about
    `bucket_mb` MB, one all-reduce each. Every rank runs the same method code, so the same
    parameters have gradients everywhere; a parameter without one is left without one
    (as SGD and AdamW skip it in a single process too)."""
    if not ctx.enabled:
        return
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    grads = [p.grad for p in params if p.grad is not None]
    for bucket in _buckets(grads, int(bucket_mb * 2**20)):
        flat = _flatten_dense_tensors(bucket)
        dist.all_reduce(flat)
        flat.div_(ctx.world_size)
        for g, synced in zip(bucket, _unflatten_dense_tensors(flat, bucket)):
            g.copy_(synced)


def sum_over_ranks(values: list[float], ctx: DistContext, device: torch.device) -> list[float]:
    """Element-wise sum of a few numbers over ranks (float64: counts stay exact)."""
    if not ctx.enabled:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks, differentiable: the gradient of every rank's input is the sum of
    the gradients that reached the output on all ranks."""

    @staticmethod
    def forward(ctx, t):
        import torch.distributed as dist

        out = t.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        import torch.distributed as dist

        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the global batch of all ranks.

    For CPU (gloo), where torch.nn.SyncBatchNorm refuses to run. Two differentiable
    all-reduces per layer (sum, then sum of squared deviations), so the backward pass
    carries the cross-rank terms exactly as a single process on the whole batch does.
    Eval mode, or a single process, is plain BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        all_reduce = _AllReduceSum.apply
        shape = (1, -1, 1, 1)
        xf = x.float()
        count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float32, device=x.device)
        sums = all_reduce(torch.cat([xf.sum((0, 2, 3)), count]))
        n = sums[-1].detach()
        mean = sums[:-1] / n
        centred = xf - mean.view(shape)
        var = all_reduce(centred.pow(2).sum((0, 2, 3))) / n
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1).clamp_min(1)), alpha=m)
        return y.to(x.dtype)


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """`module` with every BatchNorm2d made global-batch: SyncBatchNorm on CUDA,
    GlobalBatchNorm elsewhere. Parameters and buffers stay the same tensors; use the
    return value (a BatchNorm given itself is replaced, not changed)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if type(module) is nn.BatchNorm2d:
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        return new.train(module.training)
    for name, child in list(module.named_children()):
        setattr(module, name, convert_batchnorm(child, device))
    return module
