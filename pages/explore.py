"""Explore: a small grid over one or two settings, one short run per point, and a
chart of final test accuracy against the settings as the runs complete."""
import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.common import (ACTIVE, KEEP, bundled_teacher_spec, check_settings, default_method, method_label, status_text, last_acc,
                        model_choices, param_label, pct, pref, runs_dir, start_worker, store, teacher_options)
from app.i18n import t
from app.sweeps import (MAX_POINTS, axis_kinds, grid, load_sweeps, method_defaults, new_sweep_id, parse_values,
                        point_config, save_sweep)
from lakd.api import create_run
from lakd.config import RunConfig
from lakd.methods import METHODS
from lakd.runs import RunStoreError


def suggested(name: str, kind: type, method: str) -> str:
    default = method_defaults(method).get(name, {"lr": 0.05, "batch_size": 64, "weight_decay": 5e-4,
                                                  "student": "resnet8"}.get(name))
    if name == "partition":
        return "stage, block, 2"
    if name == "student":
        return "resnet8, resnet14"
    if kind is bool:
        return "true, false"
    if kind in (int, float) and default:
        vals = [default / 2, default, default * 2]
        return ", ".join(str(int(v)) if kind is int else f"{v:g}" for v in vals)
    if kind in (int, float):
        return "0, 0.5, 1"
    return str(default or "")


def axis_label(name: str) -> str:
    if name == "(none)":
        return t("explore_no_axis")
    run_labels = {"lr": "label_lr", "batch_size": "label_batch", "weight_decay": "label_wd", "student": "label_student"}
    return t(run_labels[name]) if name in run_labels else param_label(name)


st.title(t("explore_title"))
st.markdown(t("explore_intro"))

methods = sorted(METHODS)
c1, c2, c3 = st.columns(3)
method = c1.selectbox(t("label_method"), methods, key=pref("p_ex_method", default_method(), methods),
                      format_func=method_label, **KEEP)
archs = model_choices()
student = c2.selectbox(t("label_student"), archs, key=pref("p_ex_student", "resnet8", archs), **KEEP)
teacher = None
if METHODS[method].needs_teacher:
    teachers = teacher_options(with_packs=False)  # a sweep changes the data, which a pack is bound to
    if teachers:
        specs = list(teachers)
        teacher = c3.selectbox(t("label_teacher"), specs, format_func=teachers.get,
                               key=pref("p_ex_teacher", bundled_teacher_spec() if bundled_teacher_spec() in specs
                                        else specs[0], specs), **KEEP)
    else:
        c3.warning(t("no_teacher_yet"))
d1, d2, d3 = st.columns(3)
epochs = d1.number_input(t("label_epochs"), min_value=1, max_value=50, step=1, key=pref("p_ex_epochs", 1), **KEEP)
per_class = d2.number_input(t("label_per_class"), min_value=1, max_value=300, step=10, key=pref("p_ex_per_class", 50),
                            help=t("help_per_class"), **KEEP)
max_steps = d3.number_input(t("label_max_steps"), min_value=0, step=5, key=pref("p_ex_max_steps", 0),
                            help=t("help_max_steps"), **KEEP)

kinds = axis_kinds(method)
names = list(kinds)
st.subheader(t("explore_axes"))
axes, problem = [], None
cols = st.columns(2)
for i, col in enumerate(cols):
    with col:
        options = names if i == 0 else ["(none)"] + names
        start = names[0] if i == 0 else "(none)"
        name = st.selectbox(t("explore_axis", n=i + 1), options, key=pref(f"p_ex_axis{i}", start, options),
                            format_func=axis_label, **KEEP)
        if name == "(none)":
            continue
        text = st.text_input(t("explore_values", name=axis_label(name)), key=pref(f"p_ex_vals_{i}_{method}_{name}",
                                                                      suggested(name, kinds[name], method)), **KEEP)
        try:
            axes.append((name, parse_values(text, kinds[name])))
        except ValueError as e:
            problem = f"{name}: {e}"
if len(axes) == 2 and axes[0][0] == axes[1][0]:
    problem = t("explore_same_axis")
points = grid(axes) if axes and not problem else []
if problem:
    st.error(problem)
elif len(points) > MAX_POINTS:
    st.error(t("explore_too_many", n=len(points), max=MAX_POINTS))
else:
    st.caption(t("explore_points", n=len(points), epochs=int(epochs)))

if st.button(t("explore_button"), type="primary", icon=":material/grid_view:", key="sweep",
             disabled=bool(problem) or not points or len(points) > MAX_POINTS):
    sid = new_sweep_id()
    base = RunConfig(method=method, student=student, teacher=teacher, data="sample", epochs=int(epochs),
                     per_class=int(per_class), max_steps_per_epoch=int(max_steps) or None,
                     batch_size=32 if per_class * 10 < 64 else 64, device="auto", name=f"sweep-{sid}")
    configs = [point_config(base, p) for p in points]
    errors = [(p, check_settings(c)) for p, c in zip(points, configs)]
    errors = [(p, e) for p, e in errors if e]
    if errors:
        for p, e in errors[:5]:
            st.error(t("explore_point_error", point=", ".join(f"{k}={v}" for k, v in p.items()), error=e))
    else:
        record = {"id": sid, "created": time.time(), "method": method, "student": student,
                  "axes": [{"name": n, "values": v} for n, v in axes], "points": []}
        try:
            for p, c in zip(points, configs):
                record["points"].append({"values": p, "run_id": create_run(c, runs_dir()).id})
            save_sweep(runs_dir(), record)
        except RunStoreError as e:  # disk full, read-only folder
            st.error(t("launch_refused", problem=str(e)))
            st.stop()
        start_worker()
        st.session_state["ex_sweep"] = sid
        st.success(t("explore_queued", n=len(points)))

# -- results -------------------------------------------------------------------------
st.subheader(t("explore_results"))
sweeps = load_sweeps(runs_dir())
if not sweeps:
    st.info(t("explore_none"))
    st.stop()
by_id = {s["id"]: s for s in sweeps}
if st.session_state.get("ex_sweep") not in by_id:
    st.session_state["ex_sweep"] = sweeps[0]["id"]
sid = st.selectbox(t("explore_pick"), list(by_id), key="ex_sweep",
                   format_func=lambda s: f"{s} · {by_id[s]['method']} · " + " × ".join(axis_label(a["name"]) for a in by_id[s]["axes"]))
sweep = by_id[sid]


def point_rows(sweep: dict) -> list[dict]:
    rows = []
    for p in sweep["points"]:
        try:
            run = store().get(p["run_id"])
            status, metrics = run.status().get("status"), run.metrics()
        except RunStoreError:
            status, metrics = "missing", []
        rows.append({**p["values"], "status": status, "acc": last_acc(metrics) if status == "completed" else None,
                     "run": p["run_id"]})
    return rows


active = any(r["status"] in ACTIVE for r in point_rows(sweep))


@st.fragment(run_every=3.0 if active else None)
def results():
    rows = point_rows(sweep)
    if active and not any(r["status"] in ACTIVE for r in rows):
        st.rerun()
    axis_names = [a["name"] for a in sweep["axes"]]
    done = [r for r in rows if r["acc"] is not None]
    st.progress(len([r for r in rows if r["status"] not in ACTIVE]) / max(len(rows), 1),
                text=t("explore_progress", done=len(done), n=len(rows)))
    if done:
        fig = go.Figure()
        if len(axis_names) == 1:
            a = axis_names[0]
            fig.add_scatter(x=[str(r[a]) for r in done], y=[100 * r["acc"] for r in done], mode="lines+markers",
                            marker=dict(size=11), line=dict(width=3))
            fig.update_layout(xaxis_title=axis_label(a), xaxis_type="category")
        else:
            a, b = axis_names
            xs = [str(v) for v in sweep["axes"][0]["values"]]
            ys = [str(v) for v in sweep["axes"][1]["values"]]
            z = [[next((100 * r["acc"] for r in done if str(r[a]) == x and str(r[b]) == y), None) for x in xs] for y in ys]
            fig.add_heatmap(x=xs, y=ys, z=z, colorscale="Viridis", texttemplate="%{z:.1f}%",
                            colorbar=dict(title="%"))
            fig.update_layout(xaxis_title=axis_label(a), yaxis_title=axis_label(b), xaxis_type="category",
                              yaxis_type="category")
        fig.update_layout(title=t("explore_chart"), yaxis_title=fig.layout.yaxis.title.text or t("axis_accuracy"),
                          height=360, margin=dict(l=10, r=10, t=40, b=10), template="plotly_white")
        st.plotly_chart(fig, key="sweep_chart")
        best = max(done, key=lambda r: r["acc"])
        st.caption(t("explore_best", point=", ".join(f"{k}={best[k]}" for k in axis_names), acc=pct(best["acc"])))
    frame = pd.DataFrame([{**{k: str(r[k]) for k in axis_names}, t("col_status"): status_text(r["status"]),
                           t("col_test_acc"): None if r["acc"] is None else round(100 * r["acc"], 2),
                           t("col_run"): r["run"]} for r in rows])
    st.dataframe(frame, hide_index=True, width="stretch")


results()
