"""Executive summary: how much of the teacher's accuracy the student kept, how much
smaller and faster it is, where it learned to look; a one-page report and an ONNX file."""
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from app.common import (data_bundle, epoch_maps, finished_runs, human_bytes, human_count, pct, probe_for, runs_dir,
                        run_teacher, safe_runs, short_run, store)
from app.i18n import lang, t
from lakd import report
from lakd.checkpoint import load_model
from lakd.export import ExportError, export_onnx


@st.cache_data(show_spinner=False, max_entries=32)
def summary_of(run_id: str, mtime: float, root: str) -> dict:
    run = store().get(run_id)
    cfg = run.config()
    data = data_bundle(cfg["data"], cfg.get("data_root"), None, int(cfg.get("input_size", 32)),
                       int(cfg.get("in_channels", 3)))
    return report.summarize_run(run, root, data=data)


def effective_params(cfg: dict) -> dict:
    """The method settings the run used: its Params defaults with the given ones applied."""
    import dataclasses

    from lakd.methods import METHODS

    cls = METHODS.get(cfg["method"])
    defaults = {f.name: f.default for f in dataclasses.fields(cls.Params)
                if f.default is not dataclasses.MISSING} if cls else {}
    return {**defaults, **(cfg.get("method_params") or {})}


def ratio(a, b) -> str:
    return "–" if not a or not b else f"{a / b:.1f}×"


st.title(t("summary_title"))
st.markdown(t("summary_intro"))

runs = [r for r in finished_runs(safe_runs()) if r.status().get("status") == "completed"]
if not runs:
    st.info(t("summary_none"))
    st.stop()
ids = [r.id for r in runs]
with_teacher = [r.id for r in runs if r.config().get("teacher") or r.config().get("teacher_pack")]
if st.session_state.get("sum_run") not in ids:
    demo = st.session_state.get("demo_run")
    st.session_state["sum_run"] = demo if demo in ids else (with_teacher or ids)[0]
run_id = st.selectbox(t("summary_pick"), ids, key="sum_run", format_func=short_run)
run = next(r for r in runs if r.id == run_id)
cfg = run.config()

with st.spinner(t("summary_measuring")):
    try:
        s = summary_of(run.id, run.student_checkpoint.stat().st_mtime, str(runs_dir()))
    except Exception as e:
        st.error(t("summary_failed", error=f"{type(e).__name__}: {e}"))
        st.stop()

has_teacher = s["teacher_acc"] is not None
if has_teacher:
    headline = t("summary_headline", kept=pct(s["accuracy_kept"], 0), smaller=ratio(s["teacher_params"], s["student_params"]),
                 faster=ratio(s["teacher_latency_ms"], s["student_latency_ms"]))
    st.success(headline)
else:
    headline = t("summary_headline_no_teacher", acc=pct(s["student_acc"]))
    st.info(headline)

k1, k2, k3, k4 = st.columns(4)
k1.metric(t("kpi_kept"), pct(s["accuracy_kept"], 1) if has_teacher else "–", help=t("kpi_kept_help"), border=True)
k2.metric(t("kpi_student_acc"), pct(s["student_acc"]),
          delta=None if not has_teacher else f"{100 * (s['student_acc'] - s['teacher_acc']):+.1f} pt", border=True)
k3.metric(t("kpi_smaller"), ratio(s["teacher_params"], s["student_params"]), help=t("kpi_smaller_help"), border=True)
k4.metric(t("kpi_faster"), ratio(s["teacher_latency_ms"], s["student_latency_ms"]), help=t("kpi_faster_help"), border=True)

table_header = [t("col_measure"), t("col_student_model", arch=s["student_arch"]),
                t("col_teacher_model", arch=s["teacher_arch"] or "–")]
table_rows = [
    [t("row_accuracy"), pct(s["student_acc"]), pct(s["teacher_acc"])],
    [t("row_params"), human_count(s["student_params"]), human_count(s["teacher_params"])],
    [t("row_file"), human_bytes(s["student_bytes"]), human_bytes(s["teacher_bytes"])],
    [t("row_latency"), f"{s['student_latency_ms']:.2f} ms",
     f"{s['teacher_latency_ms']:.2f} ms" if s["teacher_latency_ms"] is not None else "–"],
]
st.dataframe(pd.DataFrame(table_rows, columns=table_header), hide_index=True, width="stretch")
st.caption(t("summary_table_caption", n=s["test_images"], data=s["data"]))

# -- pictures --------------------------------------------------------------------
st.subheader(t("summary_maps_title"))
images, labels, classes = probe_for(cfg)
smaps = epoch_maps(run)
final = smaps[max(smaps)] if smaps else None
tmaps = epoch_maps(run, "teacher").get(0)
maps_png = None
if final is not None:
    rows = []
    for i in range(min(2, len(images))):
        img = report.display_image(images[i])
        name = classes[int(labels[i])]
        if tmaps is not None:
            rows.append((f"teacher · {name}"[:24], img, [m[i].numpy() for m in tmaps]))
        rows.append((f"student · {name}"[:24], img, [m[i].numpy() for m in final]))
    n_stages = max(len(r[2]) for r in rows)
    maps_png = report.figure_png(report.map_grid(rows, [f"stage {k + 1}" for k in range(n_stages)]))
    st.image(maps_png, caption=t("summary_maps_caption"))
    if tmaps is not None:
        agree = report.map_agreement(final, tmaps)
        st.caption(t("summary_match", values=", ".join(f"{t('diagram_stage')} {k + 1}: {pct(v)}" for k, v in enumerate(agree))))
else:
    st.caption(t("summary_no_maps"))
curve_png = report.figure_png(report.accuracy_figure(run.metrics(), s["teacher_acc"]))

# -- the one-page report ------------------------------------------------------------
st.subheader(t("summary_share_title"))
settings = {t("set_run"): run.id, t("set_method"): cfg["method"], t("set_params"): effective_params(cfg) or "–",
            t("set_student"): cfg["student"], t("set_teacher"): run_teacher(cfg),
            t("set_data"): f"{cfg['data']} ({s['test_images']} {t('test_images')})", t("set_epochs"): cfg["epochs"],
            t("set_seed"): cfg["seed"], t("set_command"): report.reproduce_command(cfg)}
kpis = [(t("kpi_kept"), pct(s["accuracy_kept"], 1) if has_teacher else "–"), (t("kpi_student_acc"), pct(s["student_acc"])),
        (t("kpi_smaller"), ratio(s["teacher_params"], s["student_params"])),
        (t("kpi_faster"), ratio(s["teacher_latency_ms"], s["student_latency_ms"]))]
images_html = [(t("report_curve_title"), t("report_curve_caption"), curve_png)]
if maps_png:
    images_html.append((t("summary_maps_title"), t("summary_maps_caption"), maps_png))
html = report.html_report(
    title=t("report_title"), subtitle=t("report_subtitle", run=run.id, date=time.strftime("%Y-%m-%d %H:%M")),
    headline=headline, kpis=kpis, table_header=table_header, table_rows=table_rows, images=images_html,
    settings=settings, settings_title=t("report_settings"), footer=t("report_footer"), lang=lang())
st.download_button(t("download_report"), data=html.encode("utf-8"), file_name=f"lakd-report-{short_run(run.id)}.html",
                   mime="text/html", icon=":material/download:", key="dl_report")

st.subheader(t("summary_onnx_title"))
st.markdown(t("summary_onnx_text"))
onnx_key = f"onnx_{run.id}"
if st.button(t("onnx_button"), icon=":material/deployed_code:", key="onnx_export"):
    with st.spinner(t("onnx_working")):
        try:
            model = load_model(run.student_checkpoint)
            st.session_state[onnx_key] = export_onnx(model, run.path / "export" / "student.onnx", example=images[:4])
        except ExportError as e:
            st.error(t("onnx_mismatch", error=str(e)))
        except Exception as e:
            st.error(t("onnx_failed", error=f"{type(e).__name__}: {e}"))
result = st.session_state.get(onnx_key)
if result and Path(result["path"]).exists():
    st.success(t("onnx_ok", diff=f"{result['max_abs_diff']:.1e}", atol=f"{result['atol']:.0e}",
                 n=result["checked_images"], size=human_bytes(result["bytes"])))
    st.download_button(t("download_onnx"), data=Path(result["path"]).read_bytes(),
                       file_name=f"{short_run(run.id)}.onnx", mime="application/octet-stream",
                       icon=":material/download:", key="dl_onnx")
