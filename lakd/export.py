"""Getting a student out of the lab: ONNX export checked against PyTorch, CPU
latency at batch 1, and sizes. Used by the app's executive summary and usable
from a notebook as it is."""
from __future__ import annotations

import copy
import os
import statistics
import time
import warnings
from pathlib import Path

import torch
from torch import nn


class ExportError(RuntimeError):
    pass


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def file_size(path: str | os.PathLike) -> int:
    return Path(path).stat().st_size


def model_input_shape(model: nn.Module, batch: int = 1) -> tuple[int, int, int, int]:
    """(batch, channels, size, size) a StagedNet expects; CIFAR defaults otherwise."""
    return (batch, int(getattr(model, "in_channels", 3)), int(getattr(model, "input_size", 32)),
            int(getattr(model, "input_size", 32)))


@torch.inference_mode()
def measure_latency(model: nn.Module, input_shape: tuple[int, ...] | None = None, *, runs: int = 20,
                    warmup: int = 3, threads: int | None = 1) -> dict:
    """Wall-clock time of one forward pass on CPU (batch 1 by default): median and spread in ms.

    One CPU thread by default: at batch 1 extra threads mostly wait on each other, and
    on a busy machine they make the figure swing by 100x; one thread is the stable,
    comparable number (an edge device's view)."""
    model = copy.deepcopy(model).cpu().eval()
    x = torch.randn(*(input_shape or model_input_shape(model)))
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(max(runs, 1)):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(before)
    times.sort()
    return {"median_ms": statistics.median(times), "min_ms": times[0], "max_ms": times[-1], "runs": len(times),
            "threads": threads or before}


def _export(model: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    kwargs = dict(input_names=["images"], output_names=["logits"],
                  dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset)
    try:
        # the TorchScript exporter needs nothing beyond torch and keeps a dynamic batch axis simply
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(path), dynamo=False, **kwargs)
    except TypeError:  # a torch without the `dynamo` switch or without the legacy exporter
        torch.onnx.export(model, (example,), str(path), **kwargs)


def export_onnx(model: nn.Module, path: str | os.PathLike, *, example: torch.Tensor | None = None,
                atol: float = 1e-4, opset: int = 17, check_batch: int = 4) -> dict:
    """Write `model` as ONNX, then run the file with onnxruntime on `check_batch`
    inputs and compare with PyTorch. Raises ExportError when they differ by more
    than `atol`; returns {path, bytes, max_abs_diff, atol, opset}."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).cpu().eval()
    if example is None:
        example = torch.randn(*model_input_shape(model, check_batch))
    example = example.detach().float().cpu()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        _export(model, example[:1], tmp, opset)
        onnx.checker.check_model(str(tmp))
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
        with torch.inference_mode():
            want = model(example).numpy()
        diff = float(np.abs(got - want).max())
        if not diff <= atol:
            raise ExportError(f"ONNX output differs from PyTorch by {diff:.2e} (allowed {atol:.0e})")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"path": str(path), "bytes": path.stat().st_size, "max_abs_diff": diff, "atol": atol, "opset": opset,
            "checked_images": int(example.shape[0])}
