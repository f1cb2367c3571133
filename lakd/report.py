"""A run told to people who did not train it: accuracy kept relative to the teacher,
size and speed, pictures of the maps, and a one-page HTML report.

Pictures are matplotlib `Figure`s built without pyplot (safe in servers and
threads); `figure_png` turns one into PNG bytes. Texts are passed in by the
caller, so the app can write the report in its user's language.
"""
from __future__ import annotations

import base64
import html
import io
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from .checkpoint import load_model
from .config import RunConfig
from .data import DataBundle, load_data
from .export import file_size, measure_latency, parameter_count
from .runs import Run


@torch.no_grad()
def evaluate_model(model: torch.nn.Module, dataset, batch_size: int = 256) -> float:
    """Top-1 accuracy on a data set, on CPU."""
    from .trainer import evaluate

    return evaluate(model.cpu(), DataLoader(dataset, batch_size=batch_size, shuffle=False), torch.device("cpu"))


def run_data(cfg: RunConfig) -> DataBundle:
    return load_data(cfg.data, cfg.data_root, input_size=cfg.input_size, in_channels=cfg.in_channels)


def summarize_run(run: Run, runs_root: str | Path | None = None, *, data: DataBundle | None = None,
                  latency_runs: int = 20) -> dict:
    """Key figures of a finished run: the student's and (when it had one) the teacher's
    test accuracy on the run's test set, parameters, file sizes and CPU latency at batch 1."""
    cfg = RunConfig.from_dict(run.config())
    rows = run.metrics()
    accs = [r["test_acc"] for r in rows if r.get("test_acc") is not None]
    if not accs or not run.student_checkpoint.exists():
        raise ValueError(f"run {run.id} has no evaluated epoch yet")
    runs_root = Path(runs_root) if runs_root else run.path.parent
    data = data or run_data(cfg)
    student = load_model(run.student_checkpoint, num_classes=data.num_classes)
    out = {
        "run_id": run.id, "method": cfg.method, "method_params": dict(cfg.method_params), "data": cfg.data,
        "student_arch": student.arch, "epochs_done": rows[-1]["epoch"], "epochs": cfg.epochs,
        "train_seconds": float(sum(r.get("seconds", 0.0) + r.get("eval_seconds", 0.0) for r in rows)),
        "student_acc": float(accs[-1]), "best_student_acc": float(max(accs)),
        "student_params": parameter_count(student), "student_bytes": file_size(run.student_checkpoint),
        "student_latency_ms": measure_latency(student, runs=latency_runs)["median_ms"],
        "teacher": cfg.teacher, "teacher_arch": None, "teacher_acc": None, "teacher_params": None,
        "teacher_bytes": None, "teacher_latency_ms": None, "accuracy_kept": None, "seed": cfg.seed,
        "test_images": len(data.test), "created": time.time(),
    }
    from .trainer import teacher_file

    tpath = teacher_file(cfg.teacher, runs_root)
    if cfg.teacher_pack and Path(cfg.teacher_pack, "manifest.json").exists():
        # a pack carries what its maker measured; the teacher's weights (and so its latency) stay home
        from .pack import TeacherPack

        made = TeacherPack(cfg.teacher_pack).manifest["teacher"]
        out.update(teacher_arch=made.get("arch"), teacher_acc=made.get("test_acc"), teacher_params=made.get("parameters"),
                   teacher_bytes=made.get("file_bytes"))
        if out["teacher_acc"]:
            out["accuracy_kept"] = out["student_acc"] / out["teacher_acc"]
    elif tpath is not None:
        teacher = load_model(tpath, arch=cfg.teacher_arch, num_classes=data.num_classes,
                             in_channels=data.in_channels, input_size=data.input_size)
        out.update(teacher_arch=teacher.arch, teacher_path=str(tpath), teacher_acc=evaluate_model(teacher, data.test),
                   teacher_params=parameter_count(teacher), teacher_bytes=file_size(tpath),
                   teacher_latency_ms=measure_latency(teacher, runs=latency_runs)["median_ms"])
        if out["teacher_acc"] > 0:
            out["accuracy_kept"] = out["student_acc"] / out["teacher_acc"]
    return out


def reproduce_command(config: dict) -> str:
    """A `python -m lakd distill ...` line that repeats a run's settings (those that
    differ from the defaults, plus method, student and teacher)."""
    import shlex

    from .cli import BOOL_FLAGS, RUN_FLAGS

    defaults = RunConfig().to_dict()
    flags = {dest: flag for flag, dest, _, _ in RUN_FLAGS} | {name: f"--{name.replace('_', '-')}" for name, _ in BOOL_FLAGS}
    flags["milestones"] = "--milestones"
    parts = ["python -m lakd distill", f"--method {shlex.quote(str(config.get('method')))}",
             f"--student {shlex.quote(str(config.get('student')))}"]
    if config.get("teacher"):
        parts.append(f"--teacher {shlex.quote(str(config['teacher']))}")
    if config.get("teacher_arch"):
        parts.append(f"--teacher-arch {shlex.quote(str(config['teacher_arch']))}")

    def text(v) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, (list, tuple)):
            return ",".join(str(x) for x in v)
        return shlex.quote(str(v))

    for key, value in config.items():
        if key in flags and key not in ("teacher", "teacher_arch") and value is not None and value != defaults.get(key):
            parts.append(f"{flags[key]} {text(value)}")
    for key, value in (config.get("method_params") or {}).items():
        if value is not None:
            parts.append(f"--{key.replace('_', '-')} {text(value)}")
    return " ".join(parts)


# -- pictures ---------------------------------------------------------------
def display_image(x: torch.Tensor) -> np.ndarray:
    """A normalised (C, H, W) input as a grey (H, W) picture in [0, 1]."""
    g = x.float().mean(0) if x.dim() == 3 else x.float()
    lo, hi = g.min(), g.max()
    return ((g - lo) / (hi - lo).clamp_min(1e-12)).cpu().numpy()


def upsample(m: torch.Tensor | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.as_tensor(np.asarray(m, dtype=np.float32))
    if tuple(t.shape) != tuple(size):
        t = F.interpolate(t[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    return t.clamp(0, 1).numpy()


def map_grid(rows: Sequence[tuple[str, np.ndarray, Sequence[np.ndarray | None]]], col_titles: Sequence[str], *,
             cell: float = 1.35, cmap: str = "inferno", alpha: float = 0.6):
    """One row per (label, grey image, maps): the image, then each map laid over it.

    `col_titles` names the map columns; a None map leaves its cell empty."""
    from matplotlib.figure import Figure

    ncols = 1 + len(col_titles)
    label_in = 0.075 * max(len(r[0]) for r in rows) + 0.15
    fig = Figure(figsize=(cell * ncols + label_in, cell * len(rows) + 0.5), dpi=110)
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for r, (label, image, maps) in enumerate(rows):
        size = image.shape[-2:]
        axes[r][0].imshow(image, cmap="gray", vmin=0, vmax=1)
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        for c in range(ncols):
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
        for c, m in enumerate(list(maps)[:len(col_titles)], start=1):
            if m is None:
                axes[r][c].axis("off")
                continue
            axes[r][c].imshow(image, cmap="gray", vmin=0, vmax=1)
            axes[r][c].imshow(upsample(m, size), cmap=cmap, alpha=alpha, vmin=0, vmax=1)
        for c in range(1 + len(maps), ncols):
            axes[r][c].axis("off")
    axes[0][0].set_title("input", fontsize=8)
    for c, title in enumerate(col_titles, start=1):
        axes[0][c].set_title(title, fontsize=8)
    width = cell * ncols + label_in  # the row labels get their own room on the left
    fig.subplots_adjust(left=min(0.45, label_in / width), right=0.99, top=0.9, bottom=0.02, wspace=0.05, hspace=0.08)
    return fig


def accuracy_figure(rows: Sequence[dict], teacher_acc: float | None = None, *, student_label: str = "student",
                    teacher_label: str = "teacher", xlabel: str = "epoch", ylabel: str = "test accuracy (%)"):
    """The student's test accuracy per epoch, with the teacher's as a dashed line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 2.6), dpi=110)
    ax = fig.subplots()
    rows = [r for r in rows if r.get("test_acc") is not None]
    ep = [r["epoch"] for r in rows]
    ax.plot(ep, [100 * r["test_acc"] for r in rows], marker="o", color="#2e8b57", lw=2, label=student_label)
    if teacher_acc is not None:
        ax.axhline(100 * teacher_acc, color="#4C78A8", ls="--", lw=1.5, label=teacher_label)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_xticks(ep)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def figure_png(fig, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def map_agreement(student_maps: Sequence[torch.Tensor], teacher_maps: Sequence[torch.Tensor]) -> list[float]:
    """Per stage, how closely the student looks where the teacher looks: the cosine
    similarity of the two maps (pooled to the smaller grid), averaged over images.
    1.0 means the same places; stages beyond the shorter model are left out."""
    from .maps import pool_to, smaller_grid

    out = []
    for s, t in zip(student_maps, teacher_maps):
        grid = smaller_grid(s, t)
        a = F.normalize(pool_to(s.float(), grid).flatten(1), dim=1)
        b = F.normalize(pool_to(t.float(), grid).flatten(1), dim=1)
        out.append(float((a * b).sum(1).mean()))
    return out


def gradcam_maps(model, images: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """Directional maps for contrast with NDAM: captum's LayerGradCam on the last
    stage, for each image's predicted class (or `targets`); (N, H, W) in [0, 1]."""
    from captum.attr import LayerGradCam

    was = model.training
    model.eval()
    device = next(model.parameters()).device
    x = images.to(device).clone().requires_grad_(True)
    with torch.enable_grad():
        if targets is None:
            with torch.no_grad():
                targets = model(x).argmax(1)
        layer = model.blocks[model.stage_ends[-1]]
        attr = LayerGradCam(model, layer).attribute(x, target=targets.to(device), relu_attributions=True)
    model.train(was)
    m = attr.detach().float().sum(1).cpu()
    lo = m.flatten(1).min(1).values.view(-1, 1, 1)
    hi = m.flatten(1).max(1).values.view(-1, 1, 1)
    return (m - lo) / (hi - lo).clamp_min(1e-12)


# -- the one-page report ----------------------------------------------------
_CSS = """
body{font-family:-apple-system,"Segoe UI","Hiragino Sans","Noto Sans JP","Noto Sans CJK JP",Meiryo,Arial,sans-serif;
margin:28px auto;max-width:880px;color:#1f2430;line-height:1.45}
h1{font-size:24px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid #dde;padding-bottom:3px}
.sub{color:#667;margin:0 0 14px}.headline{font-size:17px;background:#eef6ee;border-left:5px solid #2e8b57;padding:10px 14px}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}.kpi{flex:1;min-width:150px;border:1px solid #dde;border-radius:8px;
padding:8px 12px}.kpi .v{font-size:22px;font-weight:600}.kpi .l{font-size:12px;color:#667}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #e4e4ea;padding:5px 8px;text-align:left}
figure{margin:8px 0}figure img{max-width:100%}figcaption{font-size:12px;color:#556}
.foot{font-size:11px;color:#889;margin-top:20px}@media print{body{margin:0}}
"""


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def html_report(*, title: str, subtitle: str = "", headline: str = "", kpis: Sequence[tuple[str, str]] = (),
                table_header: Sequence[str] = (), table_rows: Sequence[Sequence[str]] = (),
                images: Sequence[tuple[str, str, bytes]] = (), settings: dict | None = None,
                settings_title: str = "Settings", footer: str = "", lang: str = "en") -> str:
    """A self-contained one-page HTML report: every image embedded as base64 PNG,
    every text escaped. `images` holds (heading, caption, png bytes)."""
    e = html.escape
    parts = [f'<!doctype html><html lang="{e(lang)}"><head><meta charset="utf-8">',
             f"<title>{e(title)}</title><style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    if subtitle:
        parts.append(f'<p class="sub">{e(subtitle)}</p>')
    if headline:
        parts.append(f'<p class="headline">{e(headline)}</p>')
    if kpis:
        parts.append('<div class="kpis">' + "".join(
            f'<div class="kpi"><div class="v">{e(v)}</div><div class="l">{e(k)}</div></div>' for k, v in kpis) + "</div>")
    if table_rows:
        head = "".join(f"<th>{e(h)}</th>" for h in table_header)
        body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in table_rows)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    for heading, caption, png in images:
        parts.append(f"<h2>{e(heading)}</h2><figure><img alt=\"{e(heading)}\" src=\"{png_data_uri(png)}\">"
                     f"<figcaption>{e(caption)}</figcaption></figure>")
    if settings:
        rows = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in settings.items())
        parts.append(f"<h2>{e(settings_title)}</h2><table>{rows}</table>")
    if footer:
        parts.append(f'<p class="foot">{e(footer)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
