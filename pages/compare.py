"""Compare: where the teacher and each student look, stage by stage, on the same
images; a directional Grad-CAM map for contrast; accuracy curves and key numbers."""
import pandas as pd
import streamlit as st

from app.common import (checkpoint_accuracy, epoch_maps, evaluated, last_acc, finished_runs, gradcam_for, overlay_accuracy_figure, pct, probe_for, safe_runs,
                        run_teacher, short_run, teacher_maps_for, teacher_short)
from app.i18n import t
from lakd.report import display_image, figure_png, map_agreement, map_grid

st.title(t("compare_title"))
st.markdown(t("compare_intro"))

runs = finished_runs(safe_runs(), need_maps=True)
if not runs:
    st.info(t("compare_none"))
    st.stop()
by_id = {r.id: r for r in runs}
ids = list(by_id)
if "cmp_runs" in st.session_state:
    st.session_state["cmp_runs"] = [i for i in st.session_state["cmp_runs"] if i in by_id]
else:
    st.session_state["cmp_runs"] = ids[:2]
picked = st.multiselect(t("compare_pick"), ids, key="cmp_runs", format_func=short_run)
if not picked:
    st.info(t("compare_pick_some"))
    st.stop()
if len(picked) < 2:
    st.caption(t("compare_pick_two"))
chosen = [by_id[i] for i in picked]
cfgs = {r.id: r.config() for r in chosen}
if len({(c["data"], c.get("data_root")) for c in cfgs.values()}) > 1:
    st.warning(t("compare_data_differs"))

student_maps = {r.id: epoch_maps(r) for r in chosen}
last = max(max(m) for m in student_maps.values())
c1, c2, c3 = st.columns([2, 2, 1])
epoch = c1.slider(t("compare_epoch"), 0, last, last, key="cmp_epoch", help=t("compare_epoch_help")) if last else 0
first_cfg = cfgs[chosen[0].id]
images, labels, classes = probe_for(first_cfg)
idx = c2.selectbox(t("compare_image"), list(range(len(images))), key="cmp_image",
                   format_func=lambda i: f"#{i + 1} · {classes[int(labels[i])]}")
show_cam = c3.toggle(t("compare_gradcam"), value=True, key="cmp_cam", help=t("compare_gradcam_help"))

teacher_maps, teacher_spec, teacher_path, teacher_arch = teacher_maps_for(chosen)
image = display_image(images[idx])
rows, agreement = [], {}
n_stages = max(len(m[min(m)]) for m in student_maps.values())
if teacher_maps:
    tm = teacher_maps[0]
    n_stages = max(n_stages, len(tm))
    cam = gradcam_for(teacher_path, first_cfg, teacher_arch) if (show_cam and teacher_path) else None
    rows.append((f"teacher ({teacher_short(teacher_spec, plain=True)})"[:26], image,
                 [m[idx].numpy() for m in tm] + [None] * (n_stages - len(tm)) + ([cam[idx].numpy()] if cam is not None else [None])))
for run in chosen:
    maps = student_maps[run.id]
    at = max(e for e in maps if e <= epoch) if any(e <= epoch for e in maps) else min(maps)
    stage_maps = maps[at]
    cam = gradcam_for(run.student_checkpoint, cfgs[run.id]) if show_cam else None
    label = short_run(run.id)[:22] + ("" if at == epoch else f" (ep {at})")
    rows.append((label, image, [m[idx].numpy() for m in stage_maps] + [None] * (n_stages - len(stage_maps))
                 + ([cam[idx].numpy()] if cam is not None else [None])))
    if teacher_maps:
        agreement[run.id] = map_agreement(stage_maps, teacher_maps[0])
titles = [f"stage {k + 1}" for k in range(n_stages)] + ["Grad-CAM"]
if not show_cam:
    titles = titles[:-1]
    rows = [(lbl, img, maps[:-1]) for lbl, img, maps in rows]
fig = map_grid(rows, titles)
st.image(figure_png(fig), caption=t("compare_maps_caption", epoch=epoch))
if not teacher_maps:
    st.caption(t("compare_no_teacher"))
with st.expander(t("compare_how_to_read")):
    st.markdown(t("compare_how_to_read_text"))

st.subheader(t("compare_curves"))
series = {short_run(r.id): r.metrics() for r in chosen}
teacher_acc = None
if teacher_path is not None and first_cfg.get("data") == "sample":
    try:
        teacher_acc = checkpoint_accuracy(str(teacher_path), teacher_path.stat().st_mtime, teacher_arch)
    except Exception:  # a teacher that cannot run on the sample images: no line
        teacher_acc = None
st.plotly_chart(overlay_accuracy_figure(series, teacher_acc), key="cmp_curves")

st.subheader(t("compare_table"))
table = []
for run in chosen:
    cfg, rows_m = cfgs[run.id], run.metrics()
    row = {t("col_run"): short_run(run.id), t("col_method"): cfg["method"], t("col_student"): cfg["student"],
           t("col_teacher"): run_teacher(cfg), t("col_epoch"): f"{len(rows_m)}/{cfg['epochs']}",
           t("col_test_acc"): pct(last_acc(rows_m), 2),
           t("col_best_acc"): pct(max((r["test_acc"] for r in evaluated(rows_m)), default=None), 2),
           t("col_minutes"): round(sum(r.get("seconds", 0) + r.get("eval_seconds", 0) for r in rows_m) / 60, 2)}
    for k, v in enumerate(agreement.get(run.id, [])):
        row[t("col_match", stage=k + 1)] = pct(v)
    table.append(row)
st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
if agreement:
    st.caption(t("compare_match_caption"))
