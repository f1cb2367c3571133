"""Distill: choose teacher, student, method and its settings, data, and launch a run."""
import streamlit as st

from app.common import (KEEP, bundled_teacher_spec, check_settings, default_method, has_partition, method_description,
                        method_label, method_partition_widget,
                        method_param_widgets, model_choices, page_link, partition_figure, pref, queue, student_model,
                        teacher_options, teacher_setting, uploads_dir)
from app.i18n import t
from app.uploads import UploadError, extract_zip
from lakd.config import RunConfig
from lakd.data import DATASET_NAMES
from lakd.methods import METHODS
from lakd.partition import PartitionError, plan_partition

st.title(t("distill_title"))
st.markdown(t("distill_intro"))

# -- what to distil -------------------------------------------------------------
left, right = st.columns(2)
methods = sorted(METHODS)
with left:
    method = st.selectbox(t("label_method"), methods, key=pref("p_method", default_method(), methods),
                          format_func=method_label, **KEEP)
    st.caption(method_description(method))
    needs_teacher = METHODS[method].needs_teacher
    teachers = teacher_options()
    if needs_teacher:
        if teachers:
            specs = list(teachers)
            teacher = st.selectbox(t("label_teacher"), specs, format_func=teachers.get,
                                   key=pref("p_teacher", bundled_teacher_spec() if bundled_teacher_spec() in specs
                                            else specs[0], specs), **KEEP)
        else:
            teacher = None
            st.warning(t("no_teacher_yet"))
            page_link("teacher", t("link_teacher"), icon=":material/school:")
    else:
        teacher = None
        st.caption(t("method_no_teacher"))
    teacher, teacher_pack = teacher_setting(teacher)
    if teacher_pack:
        st.caption(t("pack_chosen_caption"))
with right:
    archs = model_choices()
    student = st.selectbox(t("label_student"), archs, key=pref("p_student", "resnet8", archs), **KEEP)

with st.expander(t("method_settings", method=method_label(method))):
    params = method_param_widgets(method)
    if params:
        st.caption(t("method_settings_hint"))
    else:
        st.caption(t("method_no_settings"))

# -- the partition diagram ------------------------------------------------------------
st.subheader(t("partition_title"))
model = student_model(student)
spec = None
if has_partition(method):
    spec = params["partition"] = method_partition_widget(method)
if spec is None:
    st.caption(t("partition_not_used"))
    st.plotly_chart(partition_figure(model, "stage", cuts=False), key="partition_fig", theme=None,
                    config={"displayModeBar": False})
else:
    try:
        modules = plan_partition(model, spec)
    except PartitionError as e:
        st.error(str(e))
    else:
        decoupled = bool(params.get("sdm", True))
        st.caption(t("partition_caption", student=student, blocks=len(model.blocks), modules=len(modules)))
        if not decoupled:
            st.caption(t("partition_no_sdm"))
        st.plotly_chart(partition_figure(model, spec, gradient_cut=decoupled), key="partition_fig", theme=None,
                        config={"displayModeBar": False})

# -- training and data --------------------------------------------------------------
st.subheader(t("training_title"))
c1, c2, c3, c4 = st.columns(4)
epochs = c1.number_input(t("label_epochs"), min_value=1, max_value=1000, step=1, key=pref("p_epochs", 5), **KEEP)
batch = c2.number_input(t("label_batch"), min_value=1, max_value=4096, step=16, key=pref("p_batch", 64), **KEEP)
lr = c3.number_input(t("label_lr"), min_value=0.0, max_value=10.0, step=0.01, format="%g", key=pref("p_lr", 0.05),
                     **KEEP)
devices = ["auto", "cpu", "cuda"]
device = c4.selectbox(t("label_device"), devices, key=pref("p_device", "auto", devices),
                      format_func=lambda d: t(f"device_{d}"), **KEEP)

datasets = list(DATASET_NAMES)
d1, d2 = st.columns([1, 2])
data = d1.selectbox(t("label_data"), datasets, key=pref("p_data", "sample", datasets),
                    format_func=lambda d: t(f"data_{d}"), **KEEP)
root = None
with d2:
    if data in ("fashion-mnist", "fmnist-mini", "cifar10", "cifar100"):
        root = st.text_input(t("label_root"), key=pref(f"p_root_{data}", ""), help=t(f"help_root_{data.split('-')[0]}"),
                             **KEEP).strip() or None
    elif data == "imagefolder":
        zipped = st.file_uploader(t("label_zip"), type=["zip"], key="data_zip", help=t("help_zip"))
        if zipped is not None:
            done = st.session_state.setdefault("_extracted", {})
            ident = f"{zipped.name}:{zipped.size}"
            if ident not in done:
                try:
                    done[ident] = str(extract_zip(zipped.getvalue(), zipped.name, uploads_dir()))
                except UploadError as e:
                    st.error(str(e))
            if ident in done:
                st.session_state["p_root_imagefolder"] = done[ident]
        root = st.text_input(t("label_root"), key=pref("p_root_imagefolder", ""), help=t("help_root_imagefolder"),
                             **KEEP).strip() or None

with st.expander(t("advanced")):
    a1, a2, a3 = st.columns(3)
    per_class = a1.number_input(t("label_per_class"), min_value=0, step=10, key=pref("p_per_class", 0),
                                help=t("help_per_class_all"), **KEEP)
    max_steps = a2.number_input(t("label_max_steps"), min_value=0, step=10, key=pref("p_max_steps", 0),
                                help=t("help_max_steps"), **KEEP)
    seed = a3.number_input(t("label_seed"), min_value=0, step=1, key=pref("p_seed", 0), **KEEP)
    b1, b2, b3 = st.columns(3)
    optimizers = ["sgd", "adamw"]
    optimizer = b1.selectbox(t("label_optimizer"), optimizers, key=pref("p_optimizer", "sgd", optimizers), **KEEP)
    schedules = ["cosine", "step", "constant"]
    schedule = b2.selectbox(t("label_schedule"), schedules, key=pref("p_schedule", "cosine", schedules), **KEEP)
    weight_decay = b3.number_input(t("label_wd"), min_value=0.0, step=1e-4, format="%g", key=pref("p_wd", 5e-4),
                                   **KEEP)
    augment = st.checkbox(t("label_augment"), key=pref("p_augment", False), disabled=bool(teacher_pack),
                          help=t("augment_pack_help") if teacher_pack else None, **KEEP) and not teacher_pack
    if data == "imagefolder":
        i1, i2 = st.columns(2)
        input_size = i1.number_input(t("label_input_size"), min_value=8, step=8, key=pref("p_input_size", 64), **KEEP)
        channel_opts = [3, 1]
        in_channels = i2.selectbox(t("label_channels"), channel_opts, key=pref("p_channels", 3, channel_opts), **KEEP)
    else:
        input_size, in_channels = 32, 3
    name = st.text_input(t("label_name"), key=pref("p_name", ""), **KEEP).strip() or None

cfg = RunConfig(method=method, student=student, teacher=teacher, teacher_pack=teacher_pack, data=data, data_root=root,
                per_class=int(per_class) or None, input_size=int(input_size), in_channels=int(in_channels),
                augment=bool(augment), epochs=int(epochs), batch_size=int(batch), optimizer=optimizer, lr=float(lr),
                weight_decay=float(weight_decay), schedule=schedule, seed=int(seed), device=device,
                max_steps_per_epoch=int(max_steps) or None, method_params=params, name=name)
with st.expander(t("show_config")):
    st.json(cfg.to_dict())

if st.button(t("launch_button"), type="primary", icon=":material/rocket_launch:", key="launch"):
    with st.spinner(t("checking")):
        problem = check_settings(cfg)
    if problem:
        st.error(t("launch_refused", problem=problem))
    else:
        run = queue(cfg)
        st.success(t("launch_queued", run=run.id))
        page_link("runs", t("link_runs"), icon=":material/monitoring:")
