"""Runs: every run in the store (from the app or the command line), and a live view of one."""
import streamlit as st

from app.common import ACTIVE, keep_queue_moving, live_panel, runs_frame, safe_runs
from app.i18n import t
from lakd.report import reproduce_command

st.title(t("runs_title"))
st.markdown(t("runs_intro"))

runs = safe_runs()
if not runs:
    st.info(t("runs_none"))
    st.stop()
keep_queue_moving(runs)
any_active = any(r.status().get("status") in ACTIVE for r in runs)


@st.fragment(run_every=3.0 if any_active else None)
def table():
    st.dataframe(runs_frame(safe_runs()), hide_index=True, width="stretch",
                 column_config={t("col_test_acc"): st.column_config.NumberColumn(format="%.2f %%")})


table()

ids = [r.id for r in runs]
focus = st.session_state.pop("focus_run", None)
if focus in ids:
    st.session_state["runs_pick"] = focus
if st.session_state.get("runs_pick") not in ids:
    st.session_state["runs_pick"] = ids[0]
pick = st.selectbox(t("runs_pick"), ids, key="runs_pick")
live_panel(pick, key="runs_live")

run = next(r for r in runs if r.id == pick)
with st.expander(t("show_config")):
    st.caption(t("runs_command"))
    st.code(reproduce_command(run.config()), language="bash")
    st.json(run.config())
log = run.path / "log.txt"
if log.exists():
    with st.expander(t("show_log")):
        st.code("\n".join(log.read_text(errors="replace").splitlines()[-40:]) or "-", language=None)
