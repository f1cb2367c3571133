"""Benchmarks, each a command: `python -m lakd bench NAME`.

fmnist-mini   the team protocol (FMNIST-mini, see docs/benchmark-protocol.md): every
              method, seeds 0 1 2, last-epoch test accuracy, median s/epoch, peak RSS
ablation      LAKD's switches on the same protocol
memory        bytes saved for backward per training step: KD end-to-end vs LAKD joint
              vs LAKD local backward (resnet32x4 -> resnet8x4, batch 256)
overhead      the trainer's seconds per step against a bare training loop
gpu           images/s and peak CUDA memory per training step on one GPU: vanilla, KD,
              LAKD joint, LAKD local backward (resnet32x4 -> resnet8x4, batch 256, bf16);
              `--smoke` runs it in seconds on a CPU
Each student run is its own process (`python -m lakd start`), so peak RSS is per run,
and each lands in the run store like any other run.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from . import api
from .config import RunConfig
from .runs import Run

PROTOCOL = dict(data="fmnist-mini", student="resnet8", teacher="bundled", epochs=15, batch_size=64,
                optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="cosine", augment=False,
                eval_every=15, save_maps=False)
METHODS = ("vanilla", "kd", "at", "fitnet", "dkd", "lakd")
# "local backward" is absent on purpose: it gives the same gradients as joint (tested),
# so it changes memory and time, not accuracy (see `bench memory`).
# Measured on 2026-12-04 against the decoupled base (SDM on, g 10); SDM off won and became
# the default, so the base is spelled out here to keep the table reproducible.
DECOUPLED = {"sdm": True}
ABLATIONS = {
    "LAKD decoupled (SDM on, g 10): the ablation base": DECOUPLED,
    "SDM off (end-to-end, same losses)": {"sdm": False},
    "NDAM off (g = 0)": {**DECOUPLED, "g": 0.0},
    "NDAM x5 (g = 50)": {**DECOUPLED, "g": 50.0},
    "aux-KD off": {**DECOUPLED, "aux_kd": False},
    "hybrid on (d = 1)": {**DECOUPLED, "d": 1.0},
    "progressive on": {**DECOUPLED, "progressive": True},
    "coupling on (decoupled first 50 %)": {**DECOUPLED, "coupling": 0.5},
    "pooled heads (head_pool = 4)": {**DECOUPLED, "head_pool": 4},
}


def run_in_subprocess(run: Run, threads: int | None = None) -> dict:
    from .worker import engine_env

    env = engine_env(**({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    with open(run.path / "log.txt", "ab") as log:
        subprocess.run([sys.executable, "-m", "lakd", "start", run.id, "--runs-dir", str(run.path.parent)],
                       stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    return summarize_run(run)


def summarize_run(run: Run) -> dict:
    rows = run.metrics()
    cfg = run.config()
    done = run.status().get("status") == "completed" and len(rows) == cfg["epochs"]
    return {"run_id": run.id, "method": cfg["method"], "seed": cfg["seed"], "completed": done,
            "test_acc": rows[-1].get("test_acc") if done else None,
            "median_epoch_s": statistics.median(r["seconds"] for r in rows) if rows else None,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rows) if rows else None,
            "method_params": resolved_params(cfg["method"], cfg.get("method_params", {}))}


def resolved_params(method: str, given: dict) -> dict:
    """Every setting the run used, defaults included, so results stay readable if defaults change."""
    import dataclasses

    from .methods import get_method

    return dataclasses.asdict(get_method(method).Params(**given))


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    m = statistics.mean(values) * 100
    s = statistics.stdev(values) * 100 if len(values) > 1 else 0.0
    return f"{m:.2f} ± {s:.2f}"


def teacher_accuracy(data_name: str = "fashion-mnist") -> float:
    from torch.utils.data import DataLoader

    from .checkpoint import load_model
    from .data import load_data
    from .trainer import bundled_teacher_path, evaluate

    data = load_data(data_name)
    return evaluate(load_model(bundled_teacher_path()), DataLoader(data.test, batch_size=512), torch.device("cpu"))


def protocol_runs(runs_dir: Path, jobs: list[tuple[str, str, dict, int]], out: Path, parallel: int = 1) -> list[dict]:
    """jobs: (label, method, method_params, seed). Results are appended to `out` (JSON lines),
    and jobs already there are skipped, so an interrupted benchmark continues. With
    `parallel` > 1 the runs share the cores (one thread each): use it for accuracy, and
    `bench timing` for seconds per epoch."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    done = {}
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done[(r["label"], r["seed"])] = r
    lock = threading.Lock()
    threads = max(1, (os.cpu_count() or 2) // parallel) if parallel > 1 else None

    def one(job):
        label, method, params, seed = job
        if (label, seed) in done:
            return done[(label, seed)]
        cfg = RunConfig(**{**PROTOCOL, "method": method, "seed": seed, "method_params": params,
                           "teacher": None if method == "vanilla" else "bundled", "name": f"bench-{method}-s{seed}"})
        run = api.create_run(cfg, runs_dir)
        t0 = time.time()
        r = {"label": label, **run_in_subprocess(run, threads), "wall_s": time.time() - t0, "threads": threads}
        with lock:
            print(json.dumps(r), flush=True)
            with open(out, "a") as f:
                f.write(json.dumps(r) + "\n")
        return r

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(one, jobs))


def timing(methods, epochs: int = 3, variants: dict[str, dict] | None = None) -> list[dict]:
    """Seconds per epoch of each method alone on the machine (all cores), protocol settings.
    `variants` ({label: settings}) times other settings instead, e.g. a teacher pack."""
    import tempfile

    variants = variants or {m: {"method": m} for m in methods}
    out = []
    with tempfile.TemporaryDirectory() as d:
        for label, settings in variants.items():
            teacher = None if settings["method"] == "vanilla" or settings.get("teacher_pack") else "bundled"
            cfg = RunConfig(**{**PROTOCOL, "epochs": epochs, "eval_every": 10**6, "teacher": teacher, **settings})
            run = api.create_run(cfg, d)
            run_in_subprocess(run)
            rows = run.metrics()
            if not rows:
                raise RuntimeError(f"{label}: the run failed: {run.status().get('message')}")
            out.append({"label": label, "method": cfg.method, "median_epoch_s": statistics.median(r["seconds"] for r in rows),
                        "peak_rss_mb": max(r["peak_rss_mb"] for r in rows)})
            print(json.dumps(out[-1]), flush=True)
    return out


def pack_bytes_table(teachers=("resnet20", "resnet32x4"), size: int = 32, classes: int = 10) -> list[dict]:
    """Bytes per image of logits + maps vs logits + raw features, from each teacher's stage
    shapes on a size x size input (what `make_pack` writes, float32 and float16)."""
    from .models import build_model
    from .pack import feature_bytes, map_bytes

    rows = []
    for arch in teachers:
        net = build_model(arch, num_classes=classes, in_channels=3, input_size=size).eval()
        with torch.no_grad():
            feats, _ = net.forward_stages(torch.zeros(1, 3, size, size))
        shapes = [tuple(f.shape[1:]) for f in feats]
        for dtype, itemsize in (("float32", 4), ("float16", 2)):
            pack = classes * itemsize + map_bytes(shapes, itemsize)
            raw = classes * itemsize + feature_bytes(shapes, itemsize)
            rows.append({"teacher": arch, "dtype": dtype, "stages": [list(s) for s in shapes],
                         "logits_maps_bytes": pack, "logits_features_bytes": raw, "ratio": raw / pack})
    return rows


def pack_benchmark(runs_dir: Path, epochs: int = 3) -> dict:
    """FMNIST-mini: make the bundled teacher's pack once, then time KD and LAKD with the live
    teacher and with the pack, beside vanilla."""
    from .checkpoint import load_model
    from .data import load_data
    from .pack import TeacherPack, make_pack, teacher_identity
    from .trainer import bundled_teacher_path

    out = Path(runs_dir) / "packs" / "fmnist-mini-resnet20"
    if not (out / "manifest.json").exists():
        data = load_data("fmnist-mini")
        t0 = time.perf_counter()
        make_pack(load_model(bundled_teacher_path()), data, out, overwrite=True,
                  teacher_info=teacher_identity("bundled", bundled_teacher_path()))
        print(json.dumps({"pack_made_s": round(time.perf_counter() - t0, 2), "pack": str(out)}), flush=True)
    size = TeacherPack(out).size_report()
    print(json.dumps({"pack_size": size}), flush=True)
    variants = {"vanilla": {"method": "vanilla"},
                "KD, live teacher": {"method": "kd"}, "KD, teacher pack": {"method": "kd", "teacher_pack": str(out)},
                "LAKD, live teacher": {"method": "lakd"}, "LAKD, teacher pack": {"method": "lakd", "teacher_pack": str(out)},
                "LAKD, teacher pack, pooled heads (head_pool 4)": {"method": "lakd", "teacher_pack": str(out),
                                                                   "method_params": {"head_pool": 4}}}
    times = timing([], epochs, variants)
    base = times[0]["median_epoch_s"]
    print("\n| FMNIST-mini, resnet8 student | s/epoch | x vanilla |\n|---|---|---|")
    for r in times:
        print(f"| {r['label']} | {r['median_epoch_s']:.2f} | {r['median_epoch_s'] / base:.2f} |")
    sizes = pack_bytes_table()
    print("\n| teacher (32x32 input) | dtype | logits + maps B/image | logits + raw features B/image | ratio |\n|---|---|---|---|---|")
    for r in sizes:
        print(f"| {r['teacher']} | {r['dtype']} | {r['logits_maps_bytes']:,} | {r['logits_features_bytes']:,} | {r['ratio']:.1f}x |")
    return {"times": times, "sizes": sizes, "pack": size}


def table(results: list[dict], labels: list[str]) -> str:
    lines = ["| method | test acc % (mean ± std) | seeds | median s/epoch | peak RSS MB |", "|---|---|---|---|---|"]
    for label in labels:
        rs = [r for r in results if r["label"] == label and r["completed"]]
        if not rs:
            continue
        lines.append(f"| {label} | {mean_std([r['test_acc'] for r in rs])} | {','.join(str(r['seed']) for r in rs)} | "
                     f"{statistics.median(r['median_epoch_s'] for r in rs):.1f} | {max(r['peak_rss_mb'] for r in rs):.0f} |")
    return "\n".join(lines)


# -- memory --------------------------------------------------------------------
class SavedBytes:
    """Bytes of tensors saved for backward that are alive, and their peak.

    Counted per storage: a tensor saved by several operations (a ReLU output that the
    next conv also keeps) is counted once, as memory is."""

    def __init__(self):
        self.alive = 0
        self.peak = 0
        self.refs: dict[int, list[int]] = {}

    def hooks(self):
        counter = self

        class Held:
            __slots__ = ("tensor", "key")

            def __init__(self, t):
                self.tensor = t
                storage = t.untyped_storage()
                self.key = storage.data_ptr()
                entry = counter.refs.setdefault(self.key, [0, storage.nbytes()])
                if entry[0] == 0:
                    counter.alive += entry[1]
                    counter.peak = max(counter.peak, counter.alive)
                entry[0] += 1

            def __del__(self):
                entry = counter.refs[self.key]
                entry[0] -= 1
                if entry[0] == 0:
                    counter.alive -= entry[1]
                    del counter.refs[self.key]

        return torch.autograd.graph.saved_tensors_hooks(lambda t: Held(t), lambda h: h.tensor)


def memory_step(method: str, params: dict, batch: int = 256, student="resnet8x4", teacher="resnet32x4") -> dict:
    from .methods import get_method
    from .models import build_model

    torch.manual_seed(0)
    cls = get_method(method)
    m = cls(build_model(student, num_classes=100), build_model(teacher, num_classes=100),
            cls.Params(**params), epochs=1).train()
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 100, (batch,))
    counter = SavedBytes()
    t0 = time.perf_counter()
    with counter.hooks():
        m.train_step(x, y, 1, lambda loss: loss.backward())
    return {"peak_saved_mb": counter.peak / 2**20, "step_s": time.perf_counter() - t0}


def overhead(steps: int = 40, batch: int = 64, repeats: int = 5) -> dict:
    """Trainer step vs a bare forward/backward/step loop on the same model and batches.
    The two alternate `repeats` times; medians are compared, which keeps drift from
    other load on the machine out of the ratio."""
    import tempfile

    from torch.utils.data import DataLoader

    from .data import load_data
    from .models import build_model
    from .trainer import Trainer

    cfg = RunConfig(method="vanilla", student="resnet8", epochs=1, batch_size=batch, max_steps_per_epoch=steps,
                    save_maps=False, data="sample")
    torch.manual_seed(0)
    model = build_model("resnet8")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(load_data("sample").train, batch_size=batch, shuffle=True)

    def bare_epoch() -> float:
        t0 = time.perf_counter()
        for i, (x, y) in enumerate(loader):
            if i == steps:
                break
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        return (time.perf_counter() - t0) / steps

    trainer_s, bare_s = [], []
    with tempfile.TemporaryDirectory() as d:
        trainer = Trainer(cfg, api.create_run(cfg, d))
        trainer.train_epoch(1)  # warm-up, both
        bare_epoch()
        for _ in range(repeats):
            trainer_s.append(trainer.train_epoch(1)["seconds"] / steps)
            bare_s.append(bare_epoch())
    t, b = statistics.median(trainer_s), statistics.median(bare_s)
    return {"trainer_s_per_step": t, "bare_s_per_step": b, "ratio": t / b, "steps": steps, "batch": batch,
            "repeats": repeats}


GPU_ROWS = [("vanilla", "vanilla", {}),
            ("KD", "kd", {}),
            ("LAKD joint", "lakd", {}),
            ("LAKD local backward", "lakd", {"mode": "local", "sdm": True})]


def gpu_step_bench(method: str, params: dict, *, device: torch.device, batch: int, steps: int, warmup: int,
                   amp: str = "bf16", channels_last: bool = False, student: str = "resnet8x4",
                   teacher: str = "resnet32x4") -> dict:
    """The trainer's training step (zero_grad, autocast, method.train_step with its own
    backward, optimizer step, loss values and accuracy read back every step) on one
    synthetic CIFAR-100 batch that stays on the device, so the data loader is not timed."""
    from .methods import get_method
    from .models import build_model
    from .trainer import amp_dtype_for, make_optimizer

    torch.manual_seed(0)
    cls = get_method(method)
    m = cls(build_model(student, num_classes=100), build_model(teacher, num_classes=100) if cls.needs_teacher else None,
            cls.Params(**params), epochs=1).to(device).train()
    fmt = torch.channels_last if channels_last else torch.preserve_format
    if channels_last:
        m.to(memory_format=torch.channels_last)
    opt = make_optimizer(RunConfig(lr=0.05), m.trainable_parameters())
    dtype = amp_dtype_for(amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    backward = (lambda loss: scaler.scale(loss).backward()) if scaler.is_enabled() else (lambda loss: loss.backward())
    x = torch.randn(batch, 3, 32, 32, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 100, (batch,), device=device)
    cuda = device.type == "cuda"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype) if dtype else torch.autocast(device.type, enabled=False):
            logits, losses = m.train_step(x, y, 1, backward)
        if scaler.is_enabled():
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        return (logits.argmax(1) == y).sum().item(), losses

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        resident = torch.cuda.memory_allocated(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    out = {"images_per_s": steps * batch / seconds, "s_per_step": seconds / steps}
    if cuda:
        peak = torch.cuda.max_memory_allocated(device)
        out.update(peak_cuda_mb=peak / 2**20, peak_above_resident_mb=(peak - resident) / 2**20)
    return out


def gpu_bench(*, device: str = "auto", batch: int = 256, steps: int = 50, warmup: int = 10, amp: str = "bf16",
              channels_last: bool = False, out: Path | None = None) -> dict:
    """Every row of GPU_ROWS timed back to back; prints a table, returns (and writes) JSON."""
    import datetime
    import platform

    from .trainer import pick_device

    dev = pick_device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    info = {"date": datetime.date.today().isoformat(), "torch": torch.__version__, "device": str(dev),
            "hardware": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
            "student": "resnet8x4", "teacher": "resnet32x4", "batch": batch, "steps": steps, "warmup": warmup,
            "amp": amp if dev.type == "cuda" else "off (CPU)", "channels_last": channels_last, "rows": []}
    t0 = time.perf_counter()
    for label, method, params in GPU_ROWS:
        r = {"label": label, "method": method, "method_params": params,
             **gpu_step_bench(method, params, device=dev, batch=batch, steps=steps, warmup=warmup, amp=amp,
                              channels_last=channels_last)}
        info["rows"].append(r)
        print(json.dumps(r), flush=True)
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    info["total_s"] = time.perf_counter() - t0
    kd = next(r for r in info["rows"] if r["label"] == "KD")
    for r in info["rows"]:
        r["images_per_s_x_kd"] = r["images_per_s"] / kd["images_per_s"]
        if "peak_cuda_mb" in r:
            r["peak_cuda_x_kd"] = r["peak_cuda_mb"] / kd["peak_cuda_mb"]
    print(f"\n{info['hardware']}, torch {info['torch']}, {info['date']}; resnet32x4 -> resnet8x4, batch {batch}, "
          f"amp {info['amp']}, channels_last {channels_last}, {steps} timed steps after {warmup}")
    print("| method | images/s | x KD | peak CUDA MB | x KD |\n|---|---|---|---|---|")
    for r in info["rows"]:
        mem = (f"{r['peak_cuda_mb']:.0f} | {r['peak_cuda_x_kd']:.2f}" if "peak_cuda_mb" in r else "- | -")
        print(f"| {r['label']} | {r['images_per_s']:.0f} | {r['images_per_s_x_kd']:.2f} | {mem} |")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(info, indent=2) + "\n")
        print(f"written to {out}")
    return info


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m lakd bench", allow_abbrev=False)
    p.add_argument("name", choices=["fmnist-mini", "ablation", "memory", "overhead", "timing", "pack", "gpu"])
    p.add_argument("--parallel", type=int, default=1, help="runs at once (accuracy only; time with `timing`)")
    p.add_argument("--batch", type=int, default=256, help="memory: batch size")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--runs-dir", default="runs/bench")
    p.add_argument("--out", default=None, help="results file (JSON lines); reruns skip what it holds")
    p.add_argument("--device", default="auto", help="gpu: auto, cuda, cuda:N or cpu")
    p.add_argument("--steps", type=int, default=50, help="gpu: timed steps per method")
    p.add_argument("--warmup", type=int, default=10, help="gpu: untimed steps first")
    p.add_argument("--amp", default="bf16", choices=["auto", "bf16", "fp16", "off"], help="gpu: autocast dtype")
    p.add_argument("--channels-last", action="store_true", help="gpu: NHWC memory format")
    p.add_argument("--smoke", action="store_true", help="gpu: batch 2, 1 warm-up and 1 timed step (a CPU check)")
    a = p.parse_args(argv)
    runs_dir = Path(a.runs_dir)
    if a.name == "fmnist-mini":
        out = Path(a.out or runs_dir / "results.jsonl")
        out.parent.mkdir(parents=True, exist_ok=True)
        jobs = [(m, m, {}, s) for s in a.seeds for m in a.methods]
        results = protocol_runs(runs_dir, jobs, out, a.parallel)
        print(f"\nteacher (bundled resnet20) test accuracy: {100 * teacher_accuracy():.2f} %")
        print(table(results, list(a.methods)))
    elif a.name == "ablation":
        out = Path(a.out or runs_dir / "results.jsonl")
        out.parent.mkdir(parents=True, exist_ok=True)
        jobs = [(label, "lakd", params, s) for s in a.seeds for label, params in ABLATIONS.items()]
        results = protocol_runs(runs_dir, jobs, out, a.parallel)
        print(table(results, list(ABLATIONS)))
    elif a.name == "memory":
        rows = [("KD end-to-end", "kd", {}),
                ("LAKD joint, stage partition", "lakd", {"mode": "joint", "sdm": True}),
                ("LAKD local backward, stage partition", "lakd", {"mode": "local", "sdm": True}),
                ("LAKD joint, block partition", "lakd", {"mode": "joint", "sdm": True, "partition": "block"}),
                ("LAKD local backward, block partition", "lakd", {"mode": "local", "sdm": True, "partition": "block"}),
                ("LAKD local backward, stage partition, pooled heads", "lakd",
                 {"mode": "local", "sdm": True, "head_pool": 4})]
        print("| resnet32x4 -> resnet8x4, batch 256 | peak saved MB | x KD | step s |\n|---|---|---|---|")
        base = None
        for label, method, params in rows:
            r = memory_step(method, params, batch=a.batch)
            base = base or r["peak_saved_mb"]
            print(f"| {label} | {r['peak_saved_mb']:.0f} | {r['peak_saved_mb'] / base:.2f} | {r['step_s']:.1f} |", flush=True)
    elif a.name == "timing":
        timing(a.methods)
    elif a.name == "pack":
        pack_benchmark(runs_dir)
    elif a.name == "gpu":
        batch, steps, warmup = (2, 1, 1) if a.smoke else (a.batch, a.steps, a.warmup)
        gpu_bench(device=a.device, batch=batch, steps=steps, warmup=warmup, amp=a.amp, channels_last=a.channels_last,
                  out=Path(a.out or runs_dir / "gpu.json"))
    elif a.name == "overhead":
        print(json.dumps(overhead(), indent=2))
    return 0
