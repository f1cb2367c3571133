"""Teacher: the bundled teacher, an uploaded checkpoint, a quick teacher trained here, or a
teacher pack (the teacher's outputs saved once, so runs need neither its weights nor its time)."""
from pathlib import Path

import streamlit as st

from app.common import (KEEP, PACK_PREFIX, bundled_teacher_path, bundled_teacher_spec, check_settings,
                        checkpoint_accuracy, data_bundle, human_bytes, list_packs, model_card, model_choices,
                        model_from_file, pack_size_figure, packs_dir, page_link, pct, pref, queue, runs_dir,
                        teacher_options, uploads_dir)
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


# -- teacher packs --------------------------------------------------------------------
st.subheader(t("pack_title"))
st.markdown(t("pack_text"))
teachers = teacher_options(with_packs=False)
if teachers:
    specs = list(teachers)
    k1, k2 = st.columns(2)
    pack_teacher = k1.selectbox(t("label_teacher"), specs, format_func=teachers.get,
                                key=pref("p_pack_teacher", bundled_teacher_spec() if bundled_teacher_spec() in specs
                                         else specs[0], specs), **KEEP)
    pack_datas = ["sample", "fmnist-mini", "fashion-mnist"]
    pack_data = k2.selectbox(t("label_data"), pack_datas, key=pref("p_pack_data", "sample", pack_datas), **KEEP)
    k3, k4, k5 = st.columns(3)
    pack_features = k3.checkbox(t("pack_features_label"), key=pref("p_pack_features", False),
                                help=t("pack_features_help"), **KEEP)
    dtypes = ["float32", "float16"]
    pack_dtype = k4.selectbox(t("pack_dtype_label"), dtypes, key=pref("p_pack_dtype", "float32", dtypes),
                              help=t("pack_dtype_help"), **KEEP)
    pack_name = k5.text_input(t("pack_name_label"), key=pref("p_pack_name", ""), **KEEP).strip()
    if st.button(t("pack_make_button"), icon=":material/inventory_2:", key="make_pack"):
        from lakd.pack import PackError, make_pack, teacher_identity
        from lakd.runs import safe_name
        from lakd.trainer import resolve_teacher, teacher_file

        name = safe_name(pack_name or f"{pack_data}-{Path(pack_teacher).stem}" + ("-features" if pack_features else ""))
        bar = st.progress(0.0, text=t("pack_making"))
        try:
            bundle = data_bundle(pack_data)
            cfg = RunConfig(teacher=pack_teacher, data=pack_data)
            teacher = resolve_teacher(cfg, bundle, runs_dir())
            made = make_pack(teacher, bundle, packs_dir() / name, features=pack_features, dtype=pack_dtype,
                             teacher_info=teacher_identity(pack_teacher, teacher_file(pack_teacher, runs_dir())),
                             progress=lambda done, total: bar.progress(done / total, text=t("pack_making")))
        except (PackError, ValueError, OSError) as e:
            bar.empty()
            st.error(t("pack_failed", error=str(e)))
        else:
            bar.empty()
            st.success(t("pack_made", name=made.name))
            st.session_state["p_teacher"] = PACK_PREFIX + str(made)
else:
    st.warning(t("no_teacher_yet"))

pack_zip = st.file_uploader(t("pack_upload_label"), type=["zip"], key="pack_upload", help=t("pack_upload_help"))
if pack_zip is not None and st.session_state.get("pack_upload_done") != pack_zip.file_id:
    import shutil

    from app.uploads import UploadError, extract_zip
    from lakd.pack import PackError, TeacherPack

    try:
        folder = extract_zip(pack_zip.getvalue(), pack_zip.name, packs_dir())
    except UploadError as e:
        st.error(str(e))
    else:
        inner = [d for d in folder.iterdir() if d.is_dir()]
        if not (folder / "manifest.json").exists() and len(inner) == 1:  # a zip of the pack folder itself
            inner[0].rename(folder.with_name(f".{folder.name}.inner"))
            folder.rmdir()
            folder.with_name(f".{folder.name}.inner").rename(folder)
        try:
            TeacherPack(folder)
        except PackError as e:
            shutil.rmtree(folder, ignore_errors=True)  # keep only packs that open, so every listed pack works
            st.error(str(e))
        else:
            st.session_state["pack_upload_done"] = pack_zip.file_id
            st.success(t("pack_uploaded", name=folder.name))

packs = list_packs()
if packs:
    import pandas as pd

    rows = []
    for pack in packs:
        size, m = pack.size_report(), pack.manifest
        rows.append({t("col_pack"): pack.path.name, t("col_teacher"): pack.teacher_arch or "–",
                     t("col_pack_teacher_acc"): pct(m["teacher"].get("test_acc")),
                     t("col_data"): f"{m['made_for']['data']} ({size['images']})",
                     t("col_pack_holds"): ", ".join(sorted(pack.holds)),
                     t("col_pack_per_image"): human_bytes(size["pack_per_image"]),
                     t("col_raw_per_image"): human_bytes(size["logits_and_features_per_image"]),
                     t("col_on_disk"): human_bytes(size["on_disk_bytes"])})
    st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)
    st.plotly_chart(pack_size_figure(packs), key="pack_sizes", theme=None, config={"displayModeBar": False})
    st.caption(t("pack_use_hint"))
    page_link("distill", t("link_distill"), icon=":material/science:")
else:
    st.caption(t("pack_none", path=str(packs_dir())))
