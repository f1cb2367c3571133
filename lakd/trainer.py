"""One trainer for every method: optimizer, schedule, AMP, evaluation, checkpoints,
resume. A method only turns a batch into named losses (see methods/base.py)."""
from __future__ import annotations

import math
import os
import resource
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader, Dataset

from . import checkpoint as ckpt
from . import distributed as dist
from .config import ConfigError, RunConfig
from .data import DataBundle, load_data
from .methods import Method, get_method
from .models import StagedNet, build_model
from .runs import Run, RunStore, RunStoreError, atomic_write_json

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_TEACHER = REPO_ROOT / "sample_data" / "teacher_resnet20_fmnist.safetensors"


def bundled_teacher_path() -> Path:
    """The teacher shipped in sample_data/ (LAKD_BUNDLED_TEACHER overrides it, for tests)."""
    return Path(os.environ.get("LAKD_BUNDLED_TEACHER") or BUNDLED_TEACHER)


class Diverged(RuntimeError):
    pass


class StopRequested(Exception):
    """Raised between steps when the run's stop file appears (the app's Stop button)."""


def pick_device(spec: str = "auto", local_rank: int | None = None) -> torch.device:
    """The device from one place. Under torchrun (`local_rank` given) a GPU is cuda:LOCAL_RANK."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no CUDA GPU is available; use --device cpu or auto")
    if spec.startswith("cuda") and local_rank is not None:
        return torch.device("cuda", local_rank)
    return torch.device(spec)


def amp_dtype_for(amp, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for the `amp` setting (CUDA only): auto/True = bf16 where the GPU
    supports it, else fp16 (with a gradient scaler); off/False = full precision."""
    if device.type != "cuda" or amp in (False, "off"):
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16":
        if not torch.cuda.is_bf16_supported():
            raise ConfigError("amp bf16 was asked for but this GPU does not support bfloat16; use --amp fp16 or auto")
        return torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def compile_blocks(model: StagedNet) -> None:
    """torch.compile each block and the head in place. Methods reach into the blocks
    (stage outputs, LAKD's local modules), so the blocks are what gets compiled, not one
    whole forward. Compilation happens at the first step (minutes for big models)."""
    for block in model.blocks:
        block.compile()
    model.head.compile()


def seed_everything(seed: int, deterministic: bool = False) -> None:
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def lr_at(cfg: RunConfig, epoch_index: int) -> float:
    """Learning rate for a 0-based epoch index; set per epoch, so resume needs no scheduler state."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch_index / cfg.epochs))
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** sum(1 for m in cfg.milestones if epoch_index >= m)
    return cfg.lr


def make_optimizer(cfg: RunConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def teacher_file(spec: str | None, runs_root: str | Path | None = None) -> Path | None:
    """The file a `teacher` setting points to: "bundled", a checkpoint file, or a run id (None: not found)."""
    if not spec:
        return None
    path = bundled_teacher_path() if spec == "bundled" else Path(spec)
    run = RunStore(runs_root).find(spec) if not path.exists() and runs_root is not None else None
    if run is not None:  # a run id is looked up inside the store only, never joined as a path
        path = run.student_checkpoint
    return path if path.exists() else None


def resolve_teacher(cfg: RunConfig, data: DataBundle, runs_root: Path | None = None) -> StagedNet | None:
    """The frozen teacher named by `cfg.teacher`: "bundled", a checkpoint file, or a run id."""
    if not cfg.teacher:
        return None
    path = teacher_file(cfg.teacher, runs_root)
    if path is None:
        raise ConfigError(f"teacher {cfg.teacher!r} not found: give 'bundled', a .safetensors/.pt file, or a run id")
    return ckpt.load_model(path, arch=cfg.teacher_arch, num_classes=data.num_classes,
                           in_channels=data.in_channels, input_size=data.input_size)


def open_pack(cfg: RunConfig, data: DataBundle):
    """The teacher pack named by `cfg.teacher_pack`, checked against the run's class count."""
    from .pack import PackError, TeacherPack

    pack = TeacherPack(cfg.teacher_pack)
    if pack.manifest["num_classes"] != data.num_classes:
        raise PackError(f"teacher pack {cfg.teacher_pack} has {pack.manifest['num_classes']} classes; "
                        f"the data has {data.num_classes}")
    return pack


def build_method(cfg: RunConfig, data: DataBundle, runs_root: Path | None = None) -> Method:
    method_cls = get_method(cfg.method)
    student = build_model(cfg.student, num_classes=data.num_classes, in_channels=data.in_channels,
                          input_size=data.input_size)
    pack = open_pack(cfg, data) if method_cls.needs_teacher and cfg.teacher_pack else None
    with torch.random.fork_rng(devices=[]):  # loading a teacher must not change the extras' random init
        teacher = resolve_teacher(cfg, data, runs_root) if method_cls.needs_teacher and pack is None else None
    try:
        params = method_cls.Params(**cfg.method_params)
    except TypeError as e:
        import dataclasses
        valid = ", ".join(f.name for f in dataclasses.fields(method_cls.Params)) or "none"
        raise ConfigError(f"method {cfg.method!r} got an unknown setting ({e}); its settings: {valid}") from e
    return method_cls(student, teacher, params, epochs=cfg.epochs, pack=pack)


@torch.no_grad()
def evaluate_counts(model: torch.nn.Module, loader: DataLoader, device: torch.device,
                    memory_format: torch.memory_format = torch.preserve_format) -> tuple[int, int]:
    """(correct, total) over `loader`."""
    was = model.training
    model.eval()
    correct = total = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True, memory_format=memory_format), y.to(device, non_blocking=True)
        correct += (model(x).argmax(1) == y).sum().item()
        total += y.numel()
    model.train(was)
    return correct, total


def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> float:
    correct, total = evaluate_counts(model, loader, device)
    return correct / max(total, 1)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_data_for(cfg: RunConfig, data: DataBundle | None = None) -> DataBundle:
    if data is not None:
        return data
    return load_data(cfg.data, cfg.data_root, augment=cfg.augment, per_class=cfg.per_class,
                     input_size=cfg.input_size, in_channels=cfg.in_channels, download=cfg.download)


class WithIndex(Dataset):
    """Items with their data-set index, which a teacher pack is read by."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        x, y = self.dataset[i]
        return x, y, i


class Trainer:
    """Runs `cfg` into `run`; `progress(dict)` is called as batches finish."""

    def __init__(self, cfg: RunConfig, run: Run, *, data: DataBundle | None = None,
                 progress: Callable[[dict], None] | None = None, runs_root: Path | None = None):
        self.cfg = cfg.validate()
        self.run = run
        self.progress = progress
        # under torchrun: one process per device; rank 0 alone writes the run store
        self.dist = dist.setup(cfg.device)
        self.is_main = self.dist.is_main
        seed_everything(cfg.seed, cfg.deterministic)
        self.device = pick_device(cfg.device, self.dist.local_rank if self.dist.enabled else None)
        self.data = load_data_for(cfg, data)
        if len(self.data.train) == 0 or len(self.data.test) == 0:
            raise ConfigError("the data set has an empty split")
        if cfg.batch_size > len(self.data.train):
            raise ConfigError(f"batch_size {cfg.batch_size} is larger than the training set ({len(self.data.train)} images)")
        self.method = build_method(cfg, self.data, runs_root or run.path.parent).to(self.device)
        if self.method.pack is not None:
            self.method.pack.check_data(self.data, cfg.augment)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.preserve_format
        if cfg.channels_last:
            self.method.to(memory_format=torch.channels_last)
        if self.dist.enabled:
            if cfg.batch_size < self.dist.world_size:
                raise ConfigError(f"batch_size {cfg.batch_size} is smaller than the {self.dist.world_size} processes; "
                                  "batch_size is the global batch, split over the processes")
            for name, part in list(self.method.named_children()):
                if name != "teacher":  # frozen, in eval mode: its BatchNorm uses running statistics
                    setattr(self.method, name, dist.convert_batchnorm(part, self.device))
            dist.broadcast_module(self.method, self.dist)
        if cfg.compile:
            if self.device.type != "cuda":
                import warnings
                warnings.warn("compile on a CPU: it works where a C++ compiler is installed, but the first steps "
                              "take minutes (resnet8: about 80 s) and it rarely pays back in a short run", stacklevel=2)
            compile_blocks(self.method.student)
            if self.method.teacher is not None:
                compile_blocks(self.method.teacher)
        self.optimizer = make_optimizer(cfg, self.method.trainable_parameters())
        self.start_epoch = 1
        self.amp_dtype = amp_dtype_for(cfg.amp, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        from .maps import probe_batch
        self.probe_images, self.probe_labels = probe_batch(self.data.test, cfg.map_images)
        test = self.data.test
        if self.dist.enabled:  # each rank scores every world_size-th image; counts are summed
            test = torch.utils.data.Subset(test, range(self.dist.rank, len(test), self.dist.world_size))
        self.test_loader = DataLoader(test, batch_size=cfg.eval_batch_size, shuffle=False,
                                      num_workers=cfg.num_workers)

    def report(self, info: dict) -> None:
        if not self.is_main:
            return
        self.run.write_progress(info)
        if self.progress:
            self.progress(info)

    def save_maps(self, epoch: int) -> None:
        """Display maps of the fixed probe images at this epoch (and the teacher's once)."""
        from .maps import model_maps, save_epoch_maps, scale_per_image

        cfg = self.cfg
        if not cfg.save_maps or not self.is_main:
            return
        if cfg.map_epochs is not None and epoch not in (0, cfg.epochs) and epoch not in cfg.map_epochs:
            return
        student_maps, _ = model_maps(self.method.student, self.probe_images, cfg.map_p)
        save_epoch_maps(self.run.path, epoch, student_maps, "student")
        if (self.run.path / "maps" / "teacher_epoch000.safetensors").exists():
            return
        teacher, pack = self.method.teacher, self.method.pack
        if teacher is not None:
            teacher_maps, _ = model_maps(teacher, self.probe_images, cfg.map_p)
            save_epoch_maps(self.run.path, 0, teacher_maps, "teacher")
        elif pack is not None and pack.map_p == cfg.map_p and (probe := pack.probe_maps(len(self.probe_images))):
            save_epoch_maps(self.run.path, 0, scale_per_image(probe), "teacher")

    # -- checkpoints -------------------------------------------------------
    def save_checkpoint(self, epoch: int, rows: list[dict] | None = None) -> None:
        """One file holds everything needed to resume, the metric rows included, so a crash
        cannot mix epochs (e.g. between this file and metrics.jsonl)."""
        if not self.is_main:
            return
        opt_tensors, opt_meta = ckpt.optimizer_to_files(self.optimizer)
        tensors = {f"student.{k}": v for k, v in self.method.student.state_dict().items()}
        tensors.update({f"extras.{k}": v for k, v in self.method.extras_state_dict().items()})
        tensors.update(opt_tensors)
        state = {"epoch": epoch, "optimizer": opt_meta, "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                 "rows": rows}
        ckpt.save_weights(self.run.checkpoint_dir / "last.safetensors", tensors, {"state": state})
        ckpt.save_model(self.run.student_checkpoint, self.method.student, epoch=epoch, run_id=self.run.id,
                        data=self.cfg.data, method=self.cfg.method)
        atomic_write_json(self.run.checkpoint_dir / "state.json", {"epoch": epoch, "run_id": self.run.id})

    def load_checkpoint(self) -> None:
        path = self.run.checkpoint_dir / "last.safetensors"
        if not path.exists():
            return
        tensors, meta = ckpt.load_state_dict_file(path)
        state = meta["state"]
        self.method.student.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("student.")})
        self.method.load_extras_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("extras.")})
        ckpt.optimizer_from_files(self.optimizer, {k: v.to(self.device) for k, v in tensors.items()}, state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.start_epoch = state["epoch"] + 1
        self.resumed_rows = state.get("rows")

    # -- loop ----------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict:
        cfg = self.cfg
        ddp = self.dist
        # per-epoch seeds make shuffling and augmentation independent of where a run resumed
        # (under torchrun each rank augments its share with its own stream)
        torch.manual_seed(cfg.seed * 100_003 + epoch + 7_919 * ddp.rank)
        sampler = None
        if ddp.enabled:  # the single process's global batches, each split over the ranks
            sampler = dist.ShardedBatchSampler(len(self.data.train), cfg.batch_size, ddp.rank, ddp.world_size,
                                               seed=cfg.seed * 1_000_003 + epoch)
            loader = DataLoader(WithIndex(self.data.train), batch_sampler=sampler, num_workers=cfg.num_workers)
        else:
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
            loader = DataLoader(WithIndex(self.data.train), batch_size=cfg.batch_size, shuffle=True, generator=gen,
                                num_workers=cfg.num_workers, drop_last=False)
        steps = len(loader) if not cfg.max_steps_per_epoch else min(len(loader), cfg.max_steps_per_epoch)
        lr = lr_at(cfg, epoch - 1)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.method.train()
        sums: dict[str, float] = {}
        correct = seen = 0
        autocast = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else nullcontext())
        backward = (lambda loss: self.scaler.scale(loss).backward()) if self.scaler.is_enabled() else (lambda loss: loss.backward())
        start = time.perf_counter()
        last_report = 0.0
        for step, (x, y, index) in enumerate(loader, 1):
            x = x.to(self.device, non_blocking=True, memory_format=self.memory_format)
            y = y.to(self.device, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            step_backward = backward
            if ddp.enabled:  # weight each rank's batch-mean loss by its share of the global batch
                w = dist.loss_weight(y.numel(), sampler.global_size(step - 1), ddp)
                step_backward = backward if w == 1.0 else (lambda loss, w=w: backward(loss * w))
            with autocast:
                logits, losses = self.method.train_step(x, y, epoch, step_backward, index)
            n, batch_correct = y.numel(), (logits.argmax(1) == y).sum().item()
            if ddp.enabled:  # gradients averaged, logged numbers summed over the global batch
                dist.sync_gradients(self.method.trainable_parameters(), ddp)
                keys = sorted(losses)
                summed = dist.sum_over_ranks([losses[k] * n for k in keys] + [batch_correct, n], ddp, self.device)
                n, batch_correct = int(summed[-1]), int(summed[-2])
                losses = {k: v / n for k, v in zip(keys, summed)}
            bad = [k for k, v in losses.items() if not math.isfinite(v)]
            if bad:
                raise Diverged(f"loss {bad[0]!r} became {losses[bad[0]]} in epoch {epoch}, step {step}")
            if self.scaler.is_enabled():
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v * n
            correct += batch_correct
            seen += n
            now = time.perf_counter()
            if ddp.enabled:  # every rank must take the same decision at the same step
                if (step % 20 == 0 or step == steps) and dist.any_rank(
                        self.is_main and self.run.stop_requested, ddp, self.device):
                    raise StopRequested()
                if self.is_main and (now - last_report > 1.0 or step == steps):
                    last_report = now
                    self.report({"epoch": epoch, "epochs": cfg.epochs, "step": step, "steps": steps,
                                 "loss": sum(losses.values()), "train_acc": correct / max(seen, 1),
                                 "images_per_s": seen / (now - start)})
            elif now - last_report > 1.0 or step == steps:
                last_report = now
                if self.run.stop_requested:
                    raise StopRequested()
                self.report({"epoch": epoch, "epochs": cfg.epochs, "step": step, "steps": steps,
                               "loss": sum(losses.values()), "train_acc": correct / max(seen, 1),
                             "images_per_s": seen / (now - start)})
            if step >= steps:
                break
        seconds = time.perf_counter() - start
        row = {"epoch": epoch, "lr": lr, "train_acc": correct / max(seen, 1), "seconds": seconds,
               "images_per_s": seen / seconds if seconds else 0.0}
        row.update({f"loss_{k}": v / max(seen, 1) for k, v in sums.items()})
        row["loss"] = sum(v for k, v in row.items() if k.startswith("loss_"))
        return row

    def record_end(self, status: str, **fields) -> None:
        """Record why training ended; if even that cannot be written (a full disk), the
        original error is the one to report, and the run later reads 'interrupted'."""
        try:
            self.set_status(status, **fields)
        except RunStoreError:
            pass

    def set_status(self, status: str, **fields) -> None:
        if self.is_main:
            self.run.set_status(status, **fields)

    def fit(self, resume: bool = False) -> list[dict]:
        self.resumed_rows = None
        if resume:
            self.load_checkpoint()
        rows = [r for r in self.run.metrics() if r["epoch"] < self.start_epoch]
        if self.resumed_rows is not None and self.resumed_rows != rows:  # killed before metrics.jsonl caught up
            rows = self.resumed_rows
            if self.is_main:
                self.run.write_metrics(rows)
        # Stop pressed while the run was starting: honour it (rank 0 reads the stop file for all)
        if dist.any_rank(self.is_main and self.run.stop_requested, self.dist, self.device):
            if self.is_main:
                self.run.clear_stop()
            self.set_status("stopped", epoch=self.start_epoch - 1, message="stopped before training began")
            return rows
        launch = {"world_size": self.dist.world_size, "backend": self.dist.backend} if self.dist.enabled else {}
        self.set_status("running", pid=os.getpid(), epoch=self.start_epoch - 1, epochs=self.cfg.epochs,
                        started=time.time(), message="", resume=False, **launch)
        try:
            if self.start_epoch == 1:
                self.save_maps(0)
            for epoch in range(self.start_epoch, self.cfg.epochs + 1):
                row = self.train_epoch(epoch)
                if epoch % self.cfg.eval_every == 0 or epoch == self.cfg.epochs:
                    t0 = time.perf_counter()
                    counts = evaluate_counts(self.method.student, self.test_loader, self.device, self.memory_format)
                    correct, total = dist.sum_over_ranks(list(counts), self.dist, self.device)
                    row["test_acc"] = correct / max(total, 1)
                    row["eval_seconds"] = time.perf_counter() - t0
                row["peak_rss_mb"] = peak_rss_mb()
                if self.device.type == "cuda":
                    row["peak_cuda_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
                if self.dist.enabled:
                    row["world_size"] = self.dist.world_size
                rows.append(row)
                self.save_checkpoint(epoch, rows)
                self.save_maps(epoch)
                if self.is_main:
                    self.run.write_metrics(rows)
                self.set_status("running", pid=os.getpid(), epoch=epoch, epochs=self.cfg.epochs)
        except Diverged as e:
            self.record_end("diverged", message=f"{e}; the last good checkpoint is kept")
            raise
        except (KeyboardInterrupt, StopRequested):
            if self.is_main:
                self.run.clear_stop()
            done = rows[-1]["epoch"] if rows else 0
            self.record_end("stopped", epoch=done,
                            message=f"stopped during epoch {done + 1}; resume continues after epoch {done}")
            raise
        except Exception as e:
            self.record_end("failed", message=f"{type(e).__name__}: {e}")
            raise
        final = rows[-1] if rows else {}
        self.set_status("completed", epoch=self.cfg.epochs, test_acc=final.get("test_acc"), message="")
        if self.is_main:
            self.run.write_progress({"epoch": self.cfg.epochs, "epochs": self.cfg.epochs, "step": 1, "steps": 1,
                                     "done": True})
        return rows
