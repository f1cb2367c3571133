"""Helpers the pages share: where runs live, cached models and data, the live run
panel, charts, generic method-setting widgets and the settings check before a launch.

Everything heavy is computed by `lakd`; this file only arranges it on screen.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.i18n import has_key, t
from lakd import worker as lakd_worker
from lakd.checkpoint import CheckpointError, load_model
from lakd.config import ConfigError, RunConfig
from lakd.data import DATASET_NAMES, DataBundle, DataError, load_data
from lakd.methods import METHODS, MethodError, get_method
from lakd.models import build_model, model_names
from lakd.partition import PartitionError, describe_partition
from lakd.runs import Run, RunStore, RunStoreError

ROOT = Path(__file__).resolve().parent.parent
PAGES = [("home", ":material/home:"), ("teacher", ":material/school:"), ("distill", ":material/science:"),
         ("runs", ":material/monitoring:"), ("compare", ":material/compare:"),
         ("summary", ":material/summarize:"), ("explore", ":material/grid_view:")]
ACTIVE = ("queued", "starting", "running")
RESUMABLE = ("stopped", "interrupted")
USER_ERRORS = (ConfigError, MethodError, PartitionError, CheckpointError, DataError, RunStoreError, ValueError, TypeError)
# choices for string settings of methods whose Params do not list them in field metadata
KNOWN_CHOICES = {"mode": ("joint", "local")}
PACK_PREFIX = "pack:"  # a teacher choice that names a teacher pack folder
COLORS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC", "#EECA3B"]


# -- places -------------------------------------------------------------------
def runs_dir() -> Path:
    return Path(os.environ.get("LAKD_RUNS_DIR") or ROOT / "runs")


def store() -> RunStore:
    return RunStore(runs_dir())


def uploads_dir() -> Path:
    return runs_dir() / "uploads"


def packs_dir() -> Path:
    return runs_dir() / "packs"


def bundled_teacher_path() -> Path:
    """The bundled teacher's file (the engine honours LAKD_BUNDLED_TEACHER, for tests)."""
    from lakd.trainer import bundled_teacher_path as engine_path
    return engine_path()


def bundled_teacher_spec() -> str:
    """What a run's `teacher` setting says for the bundled teacher."""
    return "bundled"


def default_method() -> str:
    for name in ("lakd", "kd"):
        if name in METHODS:
            return name
    return sorted(METHODS)[0]


def env_int(name: str, default: int | None) -> int | None:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        return default


def start_worker() -> None:
    """Make sure a background worker serves the run store (it trains queued runs)."""
    lakd_worker.ensure_worker(runs_dir())


def queue(cfg: RunConfig) -> Run:
    from lakd.api import create_run

    try:
        run = create_run(cfg, runs_dir())
    except RunStoreError as e:  # disk full, read-only folder: say so, and change nothing
        st.error(t("launch_refused", problem=str(e)))
        st.stop()
    start_worker()
    st.session_state["focus_run"] = run.id
    return run


def page(slug: str):
    """The st.Page object of a page (registered by app/main.py), for links and switches."""
    return st.session_state.get("_pages", {}).get(slug)


def page_link(slug: str, label: str, icon: str | None = None) -> None:
    target = page(slug)
    if target is not None:
        st.page_link(target, label=label, icon=icon)


KEEP = {"persist_state": "session"}  # a setting keeps its value when the user visits another page


def pref(key: str, default, valid=None) -> str:
    """Give a widget key its default once (or again, when the kept value is no longer
    a valid choice). Widgets made with `key=pref(...)` take no value of their own."""
    if key not in st.session_state or (valid is not None and st.session_state[key] not in valid):
        st.session_state[key] = default
    return key


# -- formatting ---------------------------------------------------------------
def status_text(status: str | None) -> str:
    key = f"status_{status}"
    return t(key) if has_key(key) else str(status)


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def human_bytes(n: float | None) -> str:
    if n is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def human_count(n: int | None) -> str:
    if n is None:
        return "–"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} K"
    return str(n)


def teacher_short(spec: str | None, plain: bool = False) -> str:
    """A short name for a teacher setting; `plain` keeps it ASCII (for picture labels)."""
    if not spec:
        return "–"
    if spec.startswith(PACK_PREFIX):
        return f"pack {Path(spec[len(PACK_PREFIX):]).name}"
    if spec == "bundled":
        return "bundled" if plain else t("teacher_bundled_short")
    return Path(spec).name if ("/" in spec or "\\" in spec) else spec


def param_label(name: str) -> str:
    key = f"param_{name}"
    return t(key) if has_key(key) else name.replace("_", " ")


def method_label(name: str) -> str:
    key = f"method_{name}"
    return t(key) if has_key(key) else name


def method_description(name: str) -> str:
    key = f"method_desc_{name}"
    if has_key(key):
        return t(key)
    import inspect, sys
    cls = METHODS.get(name)
    doc = inspect.getdoc(sys.modules.get(cls.__module__)) if cls else ""
    return (doc or "").split("\n\n")[0]


# -- runs ---------------------------------------------------------------------
def safe_runs() -> list[Run]:
    """Every run in the store whose config can be read, newest first."""
    out = []
    for run in store().list():
        try:
            run.config()
        except Exception:  # a half-copied or hand-edited folder: skip it, never crash the page
            continue
        out.append(run)
    return sorted(out, key=lambda r: r.id, reverse=True)


def keep_queue_moving(runs: list[Run]) -> None:
    """Queued runs but no worker (e.g. after a restart): start one."""
    if any(r.status().get("status") == "queued" for r in runs) and not lakd_worker.worker_alive(runs_dir()):
        start_worker()


def evaluated(rows: list[dict]) -> list[dict]:
    """The epochs that were evaluated (with `eval_every` > 1 some are not)."""
    return [r for r in rows if r.get("test_acc") is not None]


def last_acc(rows: list[dict]) -> float | None:
    rows = evaluated(rows)
    return rows[-1]["test_acc"] if rows else None


def runs_frame(runs: list[Run]) -> pd.DataFrame:
    rows = []
    for run in runs:
        cfg, state, metrics = run.config(), run.status(), run.metrics()
        acc = last_acc(metrics)
        rows.append({
            t("col_run"): run.id,
            t("col_status"): status_text(state.get("status")),
            t("col_method"): cfg.get("method"),
            t("col_student"): cfg.get("student"),
            t("col_teacher"): run_teacher(cfg),
            t("col_data"): cfg.get("data"),
            t("col_epoch"): f"{len(metrics)}/{cfg.get('epochs')}",
            t("col_test_acc"): None if acc is None else round(100 * acc, 2),
            t("col_created"): time.strftime("%Y-%m-%d %H:%M", time.localtime(state.get("created", 0) or 0)),
        })
    return pd.DataFrame(rows)


def finished_runs(runs: list[Run], need_maps: bool = False) -> list[Run]:
    """Runs with at least one finished epoch (and saved maps, when asked)."""
    out = []
    for run in runs:
        if not run.metrics() or not run.student_checkpoint.exists():
            continue
        if need_maps and not any((run.path / "maps").glob("student_epoch*.safetensors")):
            continue
        out.append(run)
    return out


# -- charts -------------------------------------------------------------------
def _style(fig: go.Figure, title: str, ytitle: str, height: int = 300) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10), xaxis_title=t("axis_epoch"),
                      yaxis_title=ytitle, legend=dict(orientation="h", y=-0.32), template="plotly_white")
    fig.update_xaxes(dtick=1)
    return fig


def accuracy_figure(rows: list[dict], live: list[tuple[float, float]] | None = None) -> go.Figure:
    """Per-epoch test and training accuracy; `live` adds the running training accuracy
    inside epochs (epoch fraction, accuracy), so a curve appears before an epoch ends."""
    fig = go.Figure()
    if live:
        fig.add_scatter(x=[x for x, _ in live], y=[100 * a for _, a in live], mode="lines+markers",
                        name=t("curve_train_live"), line=dict(color=COLORS[2], width=1), marker=dict(size=4))
    ep = [r["epoch"] for r in rows]
    ev = evaluated(rows)
    fig.add_scatter(x=[r["epoch"] for r in ev], y=[100 * r["test_acc"] for r in ev], mode="lines+markers",
                    name=t("curve_test_acc"),
                    line=dict(color=COLORS[0], width=3))
    fig.add_scatter(x=ep, y=[100 * r["train_acc"] for r in rows], mode="lines+markers", name=t("curve_train_acc"),
                    line=dict(color=COLORS[1], dash="dot"))
    return _style(fig, t("chart_accuracy"), t("axis_accuracy"))


def loss_figure(rows: list[dict]) -> go.Figure:
    fig = go.Figure()
    ep = [r["epoch"] for r in rows]
    names = sorted({k for r in rows for k in r if k.startswith("loss_")})
    fig.add_scatter(x=ep, y=[r.get("loss") for r in rows], mode="lines+markers", name=t("curve_total_loss"),
                    line=dict(color="#333", width=3))
    for i, k in enumerate(names):
        fig.add_scatter(x=ep, y=[r.get(k) for r in rows], mode="lines+markers", name=k[5:],
                        line=dict(color=COLORS[(i + 2) % len(COLORS)], dash="dot"))
    return _style(fig, t("chart_loss"), t("axis_loss"))


def overlay_accuracy_figure(series: dict[str, list[dict]], teacher_acc: float | None = None) -> go.Figure:
    fig = go.Figure()
    for i, (label, rows) in enumerate(series.items()):
        rows = evaluated(rows)
        fig.add_scatter(x=[r["epoch"] for r in rows], y=[100 * r["test_acc"] for r in rows], mode="lines+markers",
                        name=label, line=dict(color=COLORS[i % len(COLORS)], width=3))
    if teacher_acc is not None:
        fig.add_hline(y=100 * teacher_acc, line_dash="dash", line_color="#888",
                      annotation_text=t("teacher_line"), annotation_position="bottom right")
    return _style(fig, t("chart_test_accuracy"), t("axis_accuracy"), height=340)


# -- live run panel -------------------------------------------------------------
def _progress(run: Run, state: dict, rows: list[dict], epochs: int) -> tuple[float, str]:
    status = state.get("status")
    done = rows[-1]["epoch"] if rows else 0
    if status == "completed":
        return 1.0, t("progress_done", epochs=epochs)
    frac, text = done / max(epochs, 1), t("progress_epochs", done=done, epochs=epochs)
    prog = run.progress() if status in ("running", "starting") else None
    if prog and prog.get("epoch") == done + 1 and prog.get("steps"):
        frac += prog["step"] / prog["steps"] / max(epochs, 1)
        text = t("progress_steps", epoch=prog["epoch"], epochs=epochs, step=prog["step"], steps=prog["steps"],
                 speed=f"{prog.get('images_per_s', 0):.0f}")
    return min(frac, 1.0), text


def live_panel(run_id: str, key: str, compact: bool = False) -> None:
    """A run's status, progress and curves, refreshed every 2 s while it is queued or running."""
    try:
        run = store().get(run_id)
    except RunStoreError:
        st.warning(t("run_missing", run=run_id))
        return
    was_active = run.status().get("status") in ACTIVE

    @st.fragment(run_every=2.0 if was_active else None)
    def panel():
        state = run.status()
        status = state.get("status")
        if was_active and status not in ACTIVE:
            st.rerun()  # finished: redraw the whole page once, which also stops the refreshing
        cfg, rows = run.config(), run.metrics()
        frac, text = _progress(run, state, rows, int(cfg.get("epochs") or 1))
        live = st.session_state.setdefault(f"{key}_live_{run.id}", [])
        prog = run.progress() if status in ACTIVE else None
        if prog and prog.get("steps") and "train_acc" in prog:
            point = (prog["epoch"] - 1 + prog["step"] / prog["steps"], prog["train_acc"])
            if not live or live[-1][0] < point[0]:
                live.append(point)
        st.markdown(f"**{t('live_run')}** `{run.id}` · {t('col_status')}: **{status_text(status)}**")
        st.progress(frac, text=text)
        if status == "queued":
            if not lakd_worker.worker_alive(runs_dir()):
                start_worker()
            st.caption(t("run_queued_hint"))
        msg = state.get("message")
        if msg and status in ("failed", "diverged"):
            st.error(t("run_failed", message=msg))
        elif msg and status in ("stopped", "interrupted"):
            st.info(msg)
        if rows:
            ev = evaluated(rows)
            c1, c2, c3 = st.columns(3)
            c1.metric(t("metric_test_acc"), pct(last_acc(rows)),
                      delta=None if len(ev) < 2 else f"{100 * (ev[-1]['test_acc'] - ev[-2]['test_acc']):+.1f} pt")
            c2.metric(t("metric_best_acc"), pct(max((r["test_acc"] for r in ev), default=None)))
            c3.metric(t("metric_time"), f"{sum(r.get('seconds', 0) + r.get('eval_seconds', 0) for r in rows):.0f} s")
            if compact:
                st.plotly_chart(accuracy_figure(rows, live), key=f"{key}_acc", width="stretch")
            else:
                a, b = st.columns(2)
                with a:
                    st.plotly_chart(accuracy_figure(rows, live), key=f"{key}_acc", width="stretch")
                with b:
                    st.plotly_chart(loss_figure(rows), key=f"{key}_loss", width="stretch")
        elif live:
            st.plotly_chart(accuracy_figure(rows, live), key=f"{key}_acc", width="stretch")
            st.caption(t("run_first_epoch_hint"))
        elif status in ACTIVE:
            st.caption(t("run_first_epoch_hint"))
        b1, b2, _ = st.columns([1, 1, 3])
        try:
            if status in ACTIVE and b1.button(t("button_stop"), key=f"{key}_stop", icon=":material/stop:"):
                if status == "queued":
                    run.set_status("stopped", message=t("stopped_before_start"))
                else:
                    run.request_stop()
                st.toast(t("stop_requested"))
                st.rerun()
            if status in RESUMABLE and b2.button(t("button_resume"), key=f"{key}_resume", icon=":material/play_arrow:"):
                run.queue_resume()
                start_worker()
                st.toast(t("resume_queued"))
                st.rerun()
        except RunStoreError as e:  # disk full, read-only folder: the run is left as it was
            st.error(str(e))

    panel()


# -- teachers -------------------------------------------------------------------
def teacher_options(with_packs: bool = True) -> dict[str, str]:
    """{teacher setting: label}: the bundled teacher, uploaded files, finished runs, teacher packs."""
    from app.uploads import list_uploaded_checkpoints

    opts = {}
    if bundled_teacher_path().exists():
        opts[bundled_teacher_spec()] = t("teacher_opt_bundled")
    for path in list_uploaded_checkpoints(uploads_dir()):
        opts[str(path)] = t("teacher_opt_upload", name=path.name)
    for run in finished_runs(safe_runs()):
        if run.status().get("status") == "completed":
            acc = last_acc(run.metrics())
            opts[run.id] = t("teacher_opt_run", run=run.id, acc=pct(acc))
    if with_packs:
        for pack in list_packs():
            opts[PACK_PREFIX + str(pack.path)] = t("teacher_opt_pack", name=pack.path.name,
                                                   arch=pack.teacher_arch or "?", data=pack.manifest["made_for"]["data"])
    return opts


def teacher_setting(choice: str | None) -> tuple[str | None, str | None]:
    """(teacher, teacher_pack) settings for a teacher picked from `teacher_options`."""
    if choice and choice.startswith(PACK_PREFIX):
        return None, choice[len(PACK_PREFIX):]
    return choice, None


def run_teacher(cfg: dict, plain: bool = False) -> str:
    """Short name of a run's teacher: its checkpoint, run, or teacher pack."""
    if cfg.get("teacher_pack"):
        return teacher_short(PACK_PREFIX + cfg["teacher_pack"], plain)
    return teacher_short(cfg.get("teacher"), plain)


def pack_size_figure(packs: list) -> go.Figure:
    """Bytes per image each pack holds, beside what logits + raw features would take."""
    names = [p.path.name for p in packs]
    sizes = [p.size_report() for p in packs]
    fig = go.Figure([
        go.Bar(name=t("pack_bar_pack"), y=names, x=[s["pack_per_image"] / 1024 for s in sizes], orientation="h",
               marker_color=COLORS[2], text=[human_bytes(s["pack_per_image"]) for s in sizes], textposition="outside"),
        go.Bar(name=t("pack_bar_raw"), y=names, x=[s["logits_and_features_per_image"] / 1024 for s in sizes],
               orientation="h", marker_color=COLORS[3],
               text=[human_bytes(s["logits_and_features_per_image"]) for s in sizes], textposition="outside"),
    ])
    fig.update_layout(title=t("pack_size_title"), barmode="group", height=170 + 70 * len(packs), template="plotly_white",
                      margin=dict(l=10, r=70, t=40, b=10), xaxis_title=t("pack_axis_kb"),
                      legend=dict(orientation="h", y=-0.35), yaxis=dict(autorange="reversed"))
    fig.update_traces(cliponaxis=False)
    return fig


def list_packs() -> list:
    """Teacher packs in the packs folder that open cleanly (a damaged one is skipped)."""
    from lakd.pack import PackError, TeacherPack

    out = []
    if packs_dir().is_dir():
        for path in sorted(p for p in packs_dir().iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                out.append(TeacherPack(path))
            except PackError:
                continue
    return out


@st.cache_resource(show_spinner=False, max_entries=16)
def cached_model(path: str, mtime: float, arch: str | None = None):
    return load_model(Path(path), arch=arch)


def model_from_file(path: Path, arch: str | None = None):
    return cached_model(str(path), path.stat().st_mtime, arch)


@st.cache_resource(show_spinner=False, max_entries=8)
def data_bundle(name: str, root: str | None = None, per_class: int | None = None, input_size: int = 32,
                in_channels: int = 3) -> DataBundle:
    return load_data(name, root, per_class=per_class, input_size=input_size, in_channels=in_channels)


@st.cache_data(show_spinner=False, max_entries=64)
def checkpoint_accuracy(path: str, mtime: float, arch: str | None, data: str = "sample") -> float:
    from lakd.report import evaluate_model

    model = cached_model(path, mtime, arch)
    return evaluate_model(model, data_bundle(data).test)


@st.cache_resource(show_spinner=False, max_entries=8)
def probe(data: str, root: str | None = None, input_size: int = 32, in_channels: int = 3, n: int = 16):
    """The fixed test images whose maps every run saves: (images, labels, class names)."""
    from lakd.maps import probe_batch

    bundle = data_bundle(data, root, None, input_size, in_channels)
    images, labels = probe_batch(bundle.test, n)
    return images, labels, list(bundle.class_names)


def probe_for(cfg: dict):
    return probe(cfg.get("data", "sample"), cfg.get("data_root"), int(cfg.get("input_size", 32)),
                 int(cfg.get("in_channels", 3)), int(cfg.get("map_images", 16)))


@st.cache_resource(show_spinner=False, max_entries=64)
def _epoch_maps(path: str, who: str, files: tuple[str, ...]):
    from lakd.maps import load_epoch_maps
    return load_epoch_maps(Path(path), who)


def epoch_maps(run: Run, who: str = "student") -> dict:
    """{epoch: [stage maps]} of a run, re-read only when new map files appear."""
    files = tuple(sorted(p.name for p in (run.path / "maps").glob(f"{who}_epoch*.safetensors")))
    return _epoch_maps(str(run.path), who, files) if files else {}


@st.cache_resource(show_spinner=False, max_entries=32)
def _gradcam(path: str, mtime: float, arch: str | None, data: str, root: str | None, size: int, chans: int, n: int):
    from lakd.report import gradcam_maps
    images, _, _ = probe(data, root, size, chans, n)
    return gradcam_maps(cached_model(path, mtime, arch), images)


def gradcam_for(path: Path, cfg: dict, arch: str | None = None):
    """Grad-CAM maps of a checkpoint on a run's probe images (None when it cannot run on them)."""
    try:
        return _gradcam(str(path), path.stat().st_mtime, arch, cfg.get("data", "sample"), cfg.get("data_root"),
                        int(cfg.get("input_size", 32)), int(cfg.get("in_channels", 3)), int(cfg.get("map_images", 16)))
    except Exception:
        return None


def short_run(run_id: str) -> str:
    """A run id without its date and time, for legends and picture labels."""
    parts = run_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[0].isdigit() else run_id


def teacher_maps_for(runs: list[Run]) -> tuple[dict | None, str | None, Path | None, str | None]:
    """(the teacher's stage maps, its setting, its file, its arch) for a set of runs: the maps
    saved by the first run that had a teacher, else the bundled teacher's maps computed
    on the first run's probe images."""
    from lakd.trainer import teacher_file

    for run in runs:
        cfg = run.config()
        maps = epoch_maps(run, "teacher")
        if maps:
            spec = cfg.get("teacher") or (PACK_PREFIX + cfg["teacher_pack"] if cfg.get("teacher_pack") else None)
            return maps, spec, teacher_file(cfg.get("teacher"), runs_dir()), cfg.get("teacher_arch")
    path = bundled_teacher_path()
    if runs and path.exists():
        cfg = runs[0].config()
        try:
            from lakd.maps import model_maps
            model = model_from_file(path)
            images, _, _ = probe_for(cfg)
            maps, _ = model_maps(model, images, float(cfg.get("map_p", 2.0)))
            return {0: maps}, bundled_teacher_spec(), path, None
        except Exception:
            return None, None, None, None
    return None, None, None, None


def model_card(model, accuracy: float | None, note: str | None = None) -> None:
    d = model.describe()
    c1, c2, c3 = st.columns(3)
    c1.metric(t("metric_arch"), d["arch"])
    c2.metric(t("metric_params"), human_count(d["parameters"]))
    c3.metric(t("metric_sample_acc"), pct(accuracy) if accuracy is not None else "–")
    if note:
        st.caption(note)
    with st.expander(t("details")):
        st.json(d)


# -- method settings ------------------------------------------------------------
def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _parse_scalar(text: str):
    text = text.strip()
    if text == "":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def has_partition(method: str) -> bool:
    return any(f.name == "partition" for f in dataclasses.fields(get_method(method).Params))


def method_param_widgets(method: str, prefix: str = "p_mp", columns: int = 3) -> dict:
    """One widget per field of the method's Params dataclass (so new methods appear by
    themselves), laid out in a grid: choices and numbers first, then switches.
    `partition` is left out: the page shows it with the block diagram."""
    cls = get_method(method)
    fields = [f for f in dataclasses.fields(cls.Params) if f.name != "partition"]
    switches = [f for f in fields if isinstance(_default(f), bool)]
    others = [f for f in fields if f not in switches]
    values = {}
    for group in (others, switches):
        cols = st.columns(columns) if group else []
        for i, f in enumerate(group):
            with cols[i % columns]:
                values[f.name] = _param_widget(f, f"{prefix}_{method}_{f.name}")
    return values


def _param_widget(f: dataclasses.Field, key: str):
    default = _default(f)
    label = param_label(f.name)
    helptext = f.metadata.get("help") or (t(f"param_help_{f.name}") if has_key(f"param_help_{f.name}") else None)
    choices = f.metadata.get("choices") or KNOWN_CHOICES.get(f.name)
    if choices and default in choices:
        return st.selectbox(label, list(choices), key=pref(key, default, list(choices)), help=helptext, **KEEP)
    if isinstance(default, bool):
        return st.checkbox(label, key=pref(key, default), help=helptext, **KEEP)
    if isinstance(default, int):
        return int(st.number_input(label, step=1, key=pref(key, default), help=helptext, **KEEP))
    if isinstance(default, float):
        step = 10 ** math.floor(math.log10(abs(default))) / 10 if default else 0.1
        return float(st.number_input(label, step=step, format="%g", key=pref(key, default), help=helptext, **KEEP))
    if isinstance(default, str):
        return st.text_input(label, key=pref(key, default), help=helptext, **KEEP)
    if isinstance(default, (list, tuple)):
        text = st.text_input(label, key=pref(key, ", ".join(str(v) for v in default)), help=helptext, **KEEP)
        return [v for v in (_parse_scalar(p) for p in text.split(",")) if v is not None]
    text = st.text_input(label, key=pref(key, "" if default is None else str(default)), help=helptext, **KEEP)
    return _parse_scalar(text)


def method_partition_widget(method: str, prefix: str = "p_mp") -> str:
    default = next(_default(f) for f in dataclasses.fields(get_method(method).Params) if f.name == "partition")
    return partition_widget(f"{prefix}_{method}_partition", str(default or "stage"))


def partition_widget(key: str, default: str = "stage") -> str:
    kinds = ["stage", "block", "number"]
    start = default if default in ("stage", "block") else "number"
    kind = st.radio(t("partition_label"), kinds, format_func=lambda k: t(f"partition_{k}"), horizontal=True,
                    key=pref(f"{key}_kind", start, kinds), help=t("partition_help"), **KEEP)
    if kind == "number":
        n = st.number_input(t("partition_number"), min_value=1, step=1,
                            key=pref(f"{key}_n", int(default) if default.isdigit() else 2), **KEEP)
        return str(int(n))
    return kind


def partition_figure(model, spec: str, cuts: bool = True, gradient_cut: bool = True) -> go.Figure:
    """The student's blocks in order, coloured by local module, with the module boundaries:
    red gradient cuts when modules are decoupled (SDM on), grey lines when they are not."""
    rows = describe_partition(model, spec if cuts else "stage")
    n = len(rows)
    shapes, notes = [], []
    label_all = n <= 24
    for r in rows:
        i = r["block"]
        color = COLORS[(r["module"] if cuts else r["stage"]) % len(COLORS)]
        shapes.append(dict(type="rect", x0=i + 0.06, x1=i + 0.94, y0=0, y1=1, fillcolor=color, opacity=0.85,
                           line=dict(color="white", width=1)))
        if label_all:
            notes.append(dict(x=i + 0.5, y=0.5, text="stem" if i == 0 else f"B{i}", showarrow=False,
                              font=dict(color="white", size=11)))
    shapes.append(dict(type="rect", x0=n + 0.06, x1=n + 0.94, y0=0.15, y1=0.85, fillcolor="#999", line=dict(width=0)))
    notes.append(dict(x=n + 0.5, y=0.5, text="head", showarrow=False, font=dict(color="white", size=11)))
    for s in sorted({r["stage"] for r in rows}):
        blocks = [r["block"] for r in rows if r["stage"] == s]
        shapes.append(dict(type="line", x0=min(blocks) + 0.1, x1=max(blocks) + 0.9, y0=1.12, y1=1.12,
                           line=dict(color="#555", width=2)))
        notes.append(dict(x=(min(blocks) + max(blocks) + 1) / 2, y=1.28, text=f"{t('diagram_stage')} {s + 1}",
                          showarrow=False, font=dict(size=11, color="#555")))
    if cuts:
        for m in sorted({r["module"] for r in rows}):
            blocks = [r["block"] for r in rows if r["module"] == m]
            notes.append(dict(x=(min(blocks) + max(blocks) + 1) / 2, y=-0.22, showarrow=False,
                              text=f"{t('diagram_module')} {m + 1}", font=dict(size=11, color=COLORS[m % len(COLORS)])))
        for r in rows:
            if r["cut_after"]:
                x = r["block"] + 1
                color = "#d62728" if gradient_cut else "#999999"
                shapes.append(dict(type="line", x0=x, x1=x, y0=-0.08, y1=1.05,
                                   line=dict(color=color, width=3, dash="dash")))
                label = "✂ " + t("diagram_cut") if gradient_cut else t("diagram_boundary")
                notes.append(dict(x=x, y=-0.45, text=label, showarrow=False, font=dict(color=color, size=10)))
    fig = go.Figure(go.Scatter(
        x=[r["block"] + 0.5 for r in rows], y=[0.5] * n, mode="markers", marker=dict(opacity=0), showlegend=False,
        hoverinfo="text", hovertext=[f"block {r['block']} · {r['type']} · stage {r['stage'] + 1} · module {r['module'] + 1}"
                                     for r in rows]))
    # one layout update: adding shapes one by one is slow for deep students (resnet110: 55 blocks)
    fig.update_layout(shapes=shapes, annotations=notes, height=190, margin=dict(l=5, r=5, t=5, b=5),
                      template="plotly_white", showlegend=False)
    fig.update_xaxes(visible=False, range=[-0.2, n + 1.2])
    fig.update_yaxes(visible=False, range=[-0.6, 1.45])
    return fig


# -- the check before a launch --------------------------------------------------
def _data_shape(cfg: RunConfig) -> tuple[int, int, int, int | None]:
    """(classes, channels, input size, training images or None) without reading a big image folder."""
    if cfg.data == "imagefolder":
        if not cfg.data_root:
            raise DataError(t("err_need_root"))
        train = Path(cfg.data_root) / "train"
        if not train.is_dir() or not (Path(cfg.data_root) / "val").is_dir():
            raise DataError(t("err_imagefolder_layout", root=cfg.data_root))
        # the engine's own check: every file decodes, no empty class, >= 2 classes (paths in the message)
        bundle = load_data("imagefolder", cfg.data_root, input_size=cfg.input_size, in_channels=cfg.in_channels)
        return bundle.num_classes, cfg.in_channels, cfg.input_size, bundle.info["train_size"]
    if cfg.data in ("cifar10", "cifar100") and not cfg.data_root:
        raise DataError(t("err_need_root"))
    bundle = data_bundle(cfg.data, cfg.data_root, cfg.per_class if cfg.data == "sample" else None)
    n_train = len(bundle.train) if cfg.data == "sample" else None
    return bundle.num_classes, bundle.in_channels, bundle.input_size, n_train


def check_settings(cfg: RunConfig) -> str | None:
    """Everything that can be checked before training, as one message (None: all good).
    Builds the student, the teacher and the method, so a partition that does not fit,
    a teacher of the wrong shape or a bad method setting is caught here."""
    try:
        cfg.validate()
        cls = get_method(cfg.method)
        valid = {f.name for f in dataclasses.fields(cls.Params)}
        wrong = sorted(set(cfg.method_params) - valid)
        if wrong:
            return t("err_unknown_params", method=cfg.method, names=", ".join(wrong))
        if cfg.device.startswith("cuda"):
            import torch
            if not torch.cuda.is_available():
                return t("err_no_cuda")
        if cls.needs_teacher and not (cfg.teacher or cfg.teacher_pack):
            return t("err_need_teacher", method=cfg.method)
        classes, channels, size, n_train = _data_shape(cfg)
        if cls.needs_teacher and cfg.teacher_pack:
            from lakd.trainer import open_pack
            bundle = data_bundle(cfg.data, cfg.data_root, cfg.per_class, cfg.input_size, cfg.in_channels)
            open_pack(cfg, bundle).check_data(bundle, cfg.augment)
        if n_train is not None and cfg.batch_size > n_train:
            return t("err_batch_too_big", batch=cfg.batch_size, n=n_train)
        from lakd.trainer import build_method
        stub = DataBundle(cfg.data, [], [], [str(i) for i in range(classes)], in_channels=channels, input_size=size)
        method = build_method(cfg, stub, runs_dir())
        if "partition" in cfg.method_params:
            from lakd.partition import plan_partition
            plan_partition(method.student, cfg.method_params["partition"])
    except USER_ERRORS as e:
        return str(e)
    except Exception as e:  # never a traceback on screen
        return f"{type(e).__name__}: {e}"
    return None


@st.cache_resource(show_spinner=False, max_entries=32)
def student_model(arch: str, input_size: int = 32, in_channels: int = 3):
    """An untrained model of an architecture, for the block diagram."""
    return build_model(arch, num_classes=10, in_channels=in_channels, input_size=input_size)


def dataset_choices() -> list[str]:
    return list(DATASET_NAMES)


def model_choices() -> list[str]:
    return model_names()
