"""Home: what LAKD does, in three sentences and one picture, and the one-click demo."""
import plotly.graph_objects as go
import streamlit as st

from app.common import (bundled_teacher_path, bundled_teacher_spec, check_settings, default_method, env_int,
                        live_panel, page_link, queue)
from app.i18n import t
from lakd.config import RunConfig


def map_picture(values):
    """An 8x8 map as an Inferno-coloured PNG data URI (crisp cells, any browser)."""
    import base64
    import io

    import numpy as np
    from matplotlib import colormaps
    from PIL import Image

    rgb = (colormaps["inferno"](values)[..., :3] * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).resize((96, 96), Image.NEAREST).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def schematic() -> go.Figure:
    """Teacher stages -> activation maps -> student local modules with gradient cuts."""
    import numpy as np

    fig = go.Figure()
    blue, green, red = "#4C78A8", "#54A24B", "#d62728"
    xs = [1.0, 3.6, 6.2]
    yy, xx = np.mgrid[0:8, 0:8]
    for k, x in enumerate(xs):
        fig.add_shape(type="rect", x0=x, x1=x + 1.9, y0=4.3, y1=5.3, fillcolor=blue, line=dict(width=0))
        fig.add_annotation(x=x + 0.95, y=4.8, text=f"{t('schema_stage')} {k + 1}", showarrow=False,
                           font=dict(color="white", size=13))
        fig.add_shape(type="rect", x0=x + 0.25, x1=x + 1.65, y0=0.3, y1=1.3, fillcolor=green, line=dict(width=0))
        fig.add_annotation(x=x + 0.95, y=0.8, text=f"{t('schema_module')} {k + 1}", showarrow=False,
                           font=dict(color="white", size=13))
        # an activation map: a blob that moves and sharpens with depth, drawn as a small picture
        cx, cy, s = 3 + k, 3 + 0.5 * k, 2.6 - 0.6 * k
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        fig.add_layout_image(source=map_picture(blob), xref="x", yref="y", x=x + 0.6, y=3.2, sizex=0.8, sizey=1.2,
                             sizing="stretch", layer="above")
        fig.add_annotation(x=x + 0.95, y=3.25, ax=x + 0.95, ay=4.25, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=2, arrowcolor="#888", text="")
        fig.add_annotation(x=x + 0.95, y=1.35, ax=x + 0.95, ay=1.95, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=2, arrowcolor="#888", text="")
        if k < 2:
            for y in (4.8, 0.8):
                fig.add_annotation(x=xs[k + 1] - 0.02 + (0.25 if y < 2 else 0), y=y,
                                   ax=x + 1.9 + (-0.25 if y < 2 else 0), ay=y, xref="x", yref="y", axref="x",
                                   ayref="y", showarrow=True, arrowhead=2, arrowcolor="#555", text="")
            cut = x + 2.25
            fig.add_shape(type="line", x0=cut, x1=cut, y0=0.05, y1=1.6, line=dict(color=red, width=3, dash="dash"))
            fig.add_annotation(x=cut, y=1.85, text="✂ " + t("schema_cut"), showarrow=False, font=dict(color=red, size=11))
    fig.add_annotation(x=0.45, y=4.8, text=t("schema_teacher"), showarrow=False, font=dict(size=13, color=blue),
                       xanchor="center", textangle=0)
    fig.add_annotation(x=0.45, y=0.8, text=t("schema_student"), showarrow=False, font=dict(size=13, color=green))
    fig.add_annotation(x=0.45, y=2.6, text=t("schema_maps"), showarrow=False, font=dict(size=12, color="#444"))
    fig.add_annotation(x=8.75, y=0.8, text=t("schema_prediction"), showarrow=False, font=dict(size=12))
    fig.add_annotation(x=8.45, y=0.8, ax=8.15, ay=0.8, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                       arrowhead=2, arrowcolor="#555", text="")
    fig.update_xaxes(visible=False, range=[-0.3, 9.5])
    fig.update_yaxes(visible=False, range=[0, 5.6], scaleanchor=None)
    fig.update_layout(height=330, margin=dict(l=0, r=0, t=10, b=0), template="plotly_white", showlegend=False,
                      dragmode=False)
    return fig


def demo_config() -> RunConfig:
    """The demo: the bundled teacher into resnet8 on the bundled sample, about a minute on a CPU.
    LAKD_DEMO_EPOCHS / LAKD_DEMO_PER_CLASS / LAKD_DEMO_MAX_STEPS shorten it (tests, slow machines)."""
    return RunConfig(method=default_method(), student="resnet8", teacher=bundled_teacher_spec(), data="sample",
                     epochs=env_int("LAKD_DEMO_EPOCHS", 3), per_class=env_int("LAKD_DEMO_PER_CLASS", None),
                     max_steps_per_epoch=env_int("LAKD_DEMO_MAX_STEPS", None), batch_size=32, lr=0.05,
                     device="auto", name="demo")


st.title(t("home_title"))
st.markdown(t("home_intro"))
st.plotly_chart(schematic(), key="schematic", theme=None, config={"displayModeBar": False, "staticPlot": True})
st.caption(t("home_picture_caption"))
with st.expander(t("home_more_title")):
    st.markdown(t("home_more"))

st.subheader(t("home_demo_title"))
have_teacher = bundled_teacher_path().exists()
cfg = demo_config()
st.markdown(t("home_demo_text", method=cfg.method.upper(), epochs=cfg.epochs))
if not have_teacher:
    st.warning(t("teacher_missing", path=str(bundled_teacher_path())))
if st.button(t("demo_button"), type="primary", icon=":material/play_arrow:", disabled=not have_teacher, key="demo"):
    problem = check_settings(cfg)
    if problem:
        st.error(problem)
    else:
        run = queue(cfg)
        st.session_state["demo_run"] = run.id
        st.toast(t("demo_queued"))

demo = st.session_state.get("demo_run")
if demo:
    live_panel(demo, key="home_live", compact=True)
    c1, c2, c3 = st.columns(3)
    with c1:
        page_link("runs", t("link_runs"), icon=":material/monitoring:")
    with c2:
        page_link("compare", t("link_compare"), icon=":material/compare:")
    with c3:
        page_link("summary", t("link_summary"), icon=":material/summarize:")
