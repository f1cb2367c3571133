"""Teacher: the bundled teacher, an uploaded checkpoint, or a quick teacher trained here."""
from pathlib import Path

import streamlit as st

from app.common import (KEEP, bundled_teacher_path, check_settings, checkpoint_accuracy, model_card,
                        model_choices, model_from_file, page_link, pref, queue, uploads_dir)
from app.i18n import t
from app.uploads import UploadError, list_uploaded_checkpoints, save_checkpoint_upload
from lakd.checkpoint import CheckpointError
from lakd.config import RunConfig


def show_checkpoint(path: Path, arch: str | None) -> None:
    """Architecture, size and accuracy on the sample data of a checkpoint file."""
    try:
        model = model_from_file(path, arch)
    except CheckpointError as e:
        st.error(str(e))
        return
    acc, note = None, None
    if model.num_classes == 10 and model.in_channels == 3 and model.input_size == 32:
        with st.spinner(t("evaluating")):
            try:
                acc = checkpoint_accuracy(str(path), path.stat().st_mtime, arch)
            except Exception as e:  # a model that cannot run on the sample images
                note = t("eval_failed", error=f"{type(e).__name__}: {e}")
    else:
        note = t("eval_not_sample")
    model_card(model, acc, note)


st.title(t("teacher_title"))
st.markdown(t("teacher_intro"))

st.subheader(t("teacher_bundled_title"))
bundled = bundled_teacher_path()
if bundled.exists():
    st.caption(t("teacher_bundled_text", path=str(bundled)))
    show_checkpoint(bundled, None)
else:
    st.warning(t("teacher_missing", path=str(bundled)))

st.subheader(t("teacher_upload_title"))
st.markdown(t("teacher_upload_text"))
archs = ["(auto)"] + model_choices()
arch = st.selectbox(t("teacher_arch_label"), archs, key=pref("p_upload_arch", "(auto)", archs),
                    format_func=lambda a: t("arch_from_file") if a == "(auto)" else a, help=t("teacher_arch_help"),
                    **KEEP)
upload = st.file_uploader(t("teacher_upload_label"), type=["safetensors", "pt", "pth"], key="teacher_upload")
if upload is not None:
    chosen_arch = None if arch == "(auto)" else arch
    try:
        saved = save_checkpoint_upload(upload.name, upload.getvalue(), uploads_dir())
        model_from_file(saved, chosen_arch)
    except UploadError as e:
        st.error(str(e))
    except CheckpointError as e:
        saved.unlink(missing_ok=True)  # keep only files that load, so every listed teacher works
        st.error(str(e))
    else:
        st.success(t("upload_saved", path=str(saved)))
        show_checkpoint(saved, chosen_arch)

previous = list_uploaded_checkpoints(uploads_dir())
if previous:
    with st.expander(t("teacher_previous", n=len(previous))):
        for p in previous:
            st.text(f"{p.name}  ·  {p.stat().st_size / 2**20:.1f} MB")

st.subheader(t("teacher_train_title"))
st.markdown(t("teacher_train_text"))
c1, c2, c3 = st.columns(3)
with c1:
    arch_t = st.selectbox(t("label_arch"), model_choices(), key=pref("p_qt_arch", "resnet20", model_choices()), **KEEP)
with c2:
    epochs = st.number_input(t("label_epochs"), min_value=1, max_value=200, step=1, key=pref("p_qt_epochs", 3), **KEEP)
with c3:
    per_class = st.number_input(t("label_per_class"), min_value=1, max_value=300, step=10,
                                key=pref("p_qt_per_class", 300), help=t("help_per_class"), **KEEP)
if st.button(t("teacher_train_button"), icon=":material/play_arrow:", key="train_teacher"):
    cfg = RunConfig(method="vanilla", student=arch_t, data="sample", epochs=int(epochs), per_class=int(per_class),
                    augment=True, lr=0.1, batch_size=128 if per_class * 10 >= 128 else 16, name="teacher")
    problem = check_settings(cfg)
    if problem:
        st.error(problem)
    else:
        run = queue(cfg)
        st.success(t("teacher_train_queued", run=run.id))
        page_link("runs", t("link_runs"), icon=":material/monitoring:")
