"""The Streamlit app, page by page, with Streamlit's AppTest (no browser).

Two tiny runs are trained by the engine in a fixture (a few steps each), with a
tiny stand-in for the bundled teacher (LAKD_BUNDLED_TEACHER). The background
worker is replaced by a recorder, so runs queued here stay queued."""
from __future__ import annotations

import io
import re
import string
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import lakd.worker
from lakd.api import train
from lakd.config import RunConfig
from lakd.methods import METHODS
from lakd.runs import RunStore

REPO = Path(__file__).resolve().parent.parent
MAIN = str(REPO / "app" / "main.py")
TIMEOUT = 180


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A run store with two finished tiny runs (vanilla, and kd from the stand-in teacher)."""
    root = tmp_path_factory.mktemp("app")
    mp = pytest.MonkeyPatch()
    teacher_run, _ = train(RunConfig(method="vanilla", student="resnet20", epochs=1, per_class=10, max_steps_per_epoch=2,
                                     batch_size=16, save_maps=False, name="tiny-teacher"), root / "teacher")
    runs = root / "runs"
    mp.setenv("LAKD_RUNS_DIR", str(runs))
    mp.setenv("LAKD_BUNDLED_TEACHER", str(teacher_run.student_checkpoint))
    mp.setenv("LAKD_DEMO_EPOCHS", "1")
    mp.setenv("LAKD_DEMO_PER_CLASS", "10")
    mp.setenv("LAKD_LANG", "en")
    started = []
    mp.setattr(lakd.worker, "ensure_worker", lambda d: started.append(Path(d)))
    tiny = dict(student="resnet8", epochs=1, per_class=10, max_steps_per_epoch=2, batch_size=16)
    vanilla, _ = train(RunConfig(method="vanilla", name="base", **tiny), runs)
    kd, _ = train(RunConfig(method="kd", teacher="bundled", name="kd", **tiny), runs)
    yield {"runs": runs, "vanilla": vanilla, "kd": kd, "teacher": teacher_run.student_checkpoint, "started": started}
    mp.undo()


def app(page: str | None = None, lang: str = "en") -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.session_state["lang"] = lang
    at.run()
    if page:
        at.switch_page(f"../pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run_ids(runs: Path) -> set[str]:
    return {r.id for r in RunStore(runs).list()}


def labels(widgets) -> list[str]:
    return [w.label for w in widgets]


# -- languages ----------------------------------------------------------------------
def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_text_has_both_languages_with_the_same_placeholders():
    from app.i18n import LANGS, STRINGS

    assert set(LANGS) == {"en", "ja"}
    for key, entry in STRINGS.items():
        assert set(entry) == {"en", "ja"}, key
        assert entry["en"].strip() and entry["ja"].strip(), f"{key} is empty in a language"
        assert placeholders(entry["en"]) == placeholders(entry["ja"]), key


def test_every_key_the_app_uses_exists():
    from app.common import PAGES
    from app.i18n import STRINGS
    from lakd.data import DATASET_NAMES

    used = set()
    for path in [p for p in (REPO / "app").glob("*.py") if p.name != "i18n.py"] + list((REPO / "pages").glob("*.py")):
        used |= set(re.findall(r"\bt\(\s*[\"']([a-z0-9_]+)[\"']", path.read_text()))
    used |= {f"nav_{slug}" for slug, _ in PAGES} | {f"data_{d}" for d in DATASET_NAMES}
    used |= {f"device_{d}" for d in ("auto", "cpu", "cuda")} | {f"partition_{k}" for k in ("stage", "block", "number")}
    used |= {f"status_{s}" for s in ("queued", "starting", "running", "completed", "failed", "stopped", "interrupted", "diverged")}
    used |= {f"help_root_{d.split('-')[0]}" for d in DATASET_NAMES if d not in ("sample",)}
    missing = sorted(k for k in used if k not in STRINGS)
    assert not missing, missing


def test_switching_language_changes_visible_labels(env):
    at = app()
    assert "Run the demo" in labels(at.button)
    assert at.title[0].value == "LAKD Studio"
    at.selectbox(key="lang").set_value("ja").run()
    assert not at.exception
    assert "デモを実行" in labels(at.button)
    assert "Run the demo" not in labels(at.button)
    at.switch_page("../pages/distill.py").run()
    assert at.title[0].value == "蒸留"
    assert "開始" in labels(at.button)


@pytest.mark.parametrize("page", ["home", "teacher", "distill", "runs", "compare", "summary", "explore"])
def test_every_page_renders_in_japanese(env, page):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        at = app(page, lang="ja")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title and not at.title[0].value.isascii() or page == "home"
    # pictures keep plain labels: a Japanese font may be missing where the app runs
    assert not [w for w in caught if "Glyph" in str(w.message)]


# -- home -----------------------------------------------------------------------------
def test_home_demo_queues_a_run_and_shows_its_progress(env):
    at = app()
    assert at.get("plotly_chart"), "the schematic is missing"
    before = run_ids(env["runs"])
    at.button(key="demo").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    new = run_ids(env["runs"]) - before
    assert len(new) == 1
    run = RunStore(env["runs"]).get(new.pop())
    cfg = run.config()
    assert cfg["method"] == ("lakd" if "lakd" in METHODS else "kd")
    assert (cfg["student"], cfg["teacher"], cfg["data"], cfg["epochs"], cfg["per_class"]) == ("resnet8", "bundled", "sample", 1, 10)
    assert run.status()["status"] == "queued"
    assert env["started"] and env["started"][-1] == env["runs"]
    assert at.get("progress"), "no live progress for the demo run"
    assert any("Open in Runs" in str(getattr(e, "proto", "")) for e in at.get("page_link"))


def test_home_without_teacher_explains_and_disables_the_demo(env, monkeypatch):
    monkeypatch.setenv("LAKD_BUNDLED_TEACHER", str(env["runs"] / "no-such-teacher.safetensors"))
    at = app()
    assert any("not available yet" in w.value for w in at.warning)
    assert at.button(key="demo").disabled


# -- teacher ----------------------------------------------------------------------------
def test_teacher_page_shows_the_bundled_teacher_and_takes_uploads(env):
    at = app("teacher")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Architecture"] == "resnet20"
    assert metrics["Accuracy on sample test images"].endswith("%")

    at.file_uploader(key="teacher_upload").set_value(("broken.pt", b"not a checkpoint", "application/octet-stream")).run()
    assert not at.exception
    assert any("refused" in e.value or "weights-only" in e.value for e in at.error)

    data = Path(env["teacher"]).read_bytes()
    at.file_uploader(key="teacher_upload").set_value(("../../my teacher!.safetensors", data, "application/octet-stream")).run()
    assert not at.exception
    saved = env["runs"] / "uploads" / "my-teacher.safetensors"
    assert saved.exists() and saved.read_bytes() == data
    assert not list(env["runs"].parent.glob("*.safetensors"))  # nothing escaped the uploads folder
    assert any("resnet20" == m.value for m in at.metric)


def test_quick_teacher_queues_a_vanilla_run(env):
    at = app("teacher")
    before = run_ids(env["runs"])
    at.number_input(key="p_qt_epochs").set_value(1)
    at.number_input(key="p_qt_per_class").set_value(5)
    at.button(key="train_teacher").click().run()
    assert not at.error, [e.value for e in at.error]
    new = run_ids(env["runs"]) - before
    assert len(new) == 1
    cfg = RunStore(env["runs"]).get(new.pop()).config()
    assert (cfg["method"], cfg["student"], cfg["epochs"], cfg["per_class"]) == ("vanilla", "resnet20", 1, 5)


# -- distill ----------------------------------------------------------------------------
@pytest.fixture
def partitioned_method():
    """The LAKD method when registered; otherwise a stand-in with a `partition` setting."""
    if "lakd" in METHODS:
        yield "lakd"
        return
    from dataclasses import dataclass

    from lakd.methods.kd import KD
    from lakd.partition import plan_partition

    @dataclass
    class Params:
        partition: str = "stage"
        temperature: float = 4.0

    class Parted(KD):
        name = "parted"

        def validate(self):
            plan_partition(self.student, self.params.partition)

    Parted.Params = Params
    METHODS["parted"] = Parted
    yield "parted"
    del METHODS["parted"]


def test_distill_has_its_widgets(env):
    at = app("distill")
    for key in ("p_method", "p_student", "p_teacher", "p_device", "p_data"):
        assert at.selectbox(key=key) is not None
    for key in ("p_epochs", "p_batch", "p_lr", "p_per_class", "p_max_steps"):
        assert at.number_input(key=key) is not None
    assert at.selectbox(key="p_method").value == ("lakd" if "lakd" in METHODS else "kd")
    assert at.selectbox(key="p_teacher").value == "bundled"
    assert at.get("plotly_chart"), "no block diagram"


def test_distill_method_settings_are_generic(env):
    import dataclasses

    at = app("distill")
    for name in sorted(METHODS):
        at.selectbox(key="p_method").set_value(name).run()
        assert not at.exception, name
        for f in dataclasses.fields(METHODS[name].Params):
            if f.name == "partition":
                assert at.radio(key=f"p_mp_{name}_partition_kind") is not None
            else:
                assert at.get_by_key(f"p_mp_{name}_{f.name}") is not None, f"{name}.{f.name} has no widget"


def test_distill_partition_too_large_is_an_error_not_a_crash(env, partitioned_method):
    at = app("distill")
    at.selectbox(key="p_method").set_value(partitioned_method).run()
    at.radio(key=f"p_mp_{partitioned_method}_partition_kind").set_value("number").run()
    at.number_input(key=f"p_mp_{partitioned_method}_partition_n").set_value(50).run()
    assert not at.exception
    assert any("does not fit" in e.value for e in at.error)
    before = run_ids(env["runs"])
    at.button(key="launch").click().run()
    assert not at.exception
    assert any(e.value.startswith("Not launched") for e in at.error)
    assert run_ids(env["runs"]) == before


@pytest.mark.parametrize("setting, value, message", [
    ("p_batch", 512, "larger than the training set"),
    ("p_data", "cifar10", "needs a data folder"),
])
def test_distill_bad_settings_are_refused_with_a_message(env, setting, value, message):
    at = app("distill")
    at.number_input(key="p_per_class").set_value(5)
    widget = at.selectbox(key=setting) if setting == "p_data" else at.number_input(key=setting)
    widget.set_value(value).run()
    before = run_ids(env["runs"])
    at.button(key="launch").click().run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert run_ids(env["runs"]) == before


def test_zero_epochs_cannot_reach_the_engine(env):
    from app.common import check_settings

    at = app("distill")
    at.number_input(key="p_epochs").set_value(0).run()
    assert at.number_input(key="p_epochs").value == 1  # the widget refuses it
    assert "epochs must be an integer >= 1" in check_settings(RunConfig(epochs=0))


def test_distill_launch_creates_a_queued_run(env):
    at = app("distill")
    at.selectbox(key="p_method").set_value("kd").run()
    at.number_input(key="p_epochs").set_value(1)
    at.number_input(key="p_batch").set_value(16)
    at.number_input(key="p_per_class").set_value(5)
    at.number_input(key="p_max_steps").set_value(1)
    at.number_input(key="p_mp_kd_temperature").set_value(3.0)
    at.run()
    before = run_ids(env["runs"])
    at.button(key="launch").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    new = run_ids(env["runs"]) - before
    assert len(new) == 1
    run = RunStore(env["runs"]).get(new.pop())
    cfg = run.config()
    assert (cfg["method"], cfg["student"], cfg["teacher"], cfg["epochs"], cfg["batch_size"]) == ("kd", "resnet8", "bundled", 1, 16)
    assert (cfg["per_class"], cfg["max_steps_per_epoch"], cfg["method_params"]["temperature"]) == (5, 1, 3.0)
    assert run.status()["status"] == "queued"
    assert any(run.id in s.value for s in at.success)


def test_distill_takes_an_image_folder_zip(env):
    from PIL import Image

    members = {}
    for split in ("train", "val"):
        for cls, color in (("cats", (200, 50, 50)), ("dogs", (50, 50, 200))):
            for i in range(2):
                buf = io.BytesIO()
                Image.new("RGB", (20, 20), color).save(buf, format="PNG")
                members[f"pets/{split}/{cls}/{i}.png"] = buf.getvalue()
    at = app("distill")
    at.selectbox(key="p_method").set_value("kd").run()
    at.selectbox(key="p_data").set_value("imagefolder").run()
    at.file_uploader(key="data_zip").set_value(("pets.zip", make_zip(members), "application/zip")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    root = Path(at.text_input(key="p_root_imagefolder").value)
    assert root == env["runs"] / "uploads" / "pets" / "pets" and (root / "train" / "cats").is_dir()
    at.number_input(key="p_batch").set_value(2)
    at.number_input(key="p_epochs").set_value(1)
    before = run_ids(env["runs"])
    at.button(key="launch").click().run()  # the 10-class teacher cannot teach 2 classes
    assert not at.exception
    assert any("10 classes but the data has 2" in e.value for e in at.error)
    assert run_ids(env["runs"]) == before
    at.selectbox(key="p_method").set_value("vanilla").run()
    at.button(key="launch").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (new,) = run_ids(env["runs"]) - before
    cfg = RunStore(env["runs"]).get(new).config()
    assert (cfg["data"], cfg["data_root"]) == ("imagefolder", str(root))


def test_distill_settings_survive_a_page_switch(env):
    at = app("distill")
    at.number_input(key="p_epochs").set_value(7).run()
    at.switch_page("../pages/runs.py").run()
    at.switch_page("../pages/distill.py").run()
    assert at.number_input(key="p_epochs").value == 7


# -- runs ----------------------------------------------------------------------------------
def test_runs_page_lists_runs_and_follows_one(env):
    at = app("runs")
    table = at.dataframe[0].value
    assert {env["vanilla"].id, env["kd"].id} <= set(table["run"])
    at.selectbox(key="runs_pick").set_value(env["vanilla"].id).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 2  # accuracy and loss curves
    assert at.get("progress")


def test_runs_page_resumes_a_stopped_run(env):
    from lakd.api import create_run

    run = create_run(RunConfig(method="vanilla", epochs=1, per_class=5, batch_size=16, name="to-resume"), env["runs"])
    run.set_status("stopped", message="stopped by a test")
    at = app("runs")
    at.selectbox(key="runs_pick").set_value(run.id).run()
    at.button(key="runs_live_resume").click().run()
    assert not at.exception
    assert run.status()["status"] == "queued" and run.status().get("resume")
    run.set_status("stopped", message="parked")  # keep it out of other tests' way


def test_runs_page_stops_a_queued_run(env):
    from lakd.api import create_run

    run = create_run(RunConfig(method="vanilla", epochs=1, per_class=5, batch_size=16, name="to-stop"), env["runs"])
    at = app("runs")
    at.selectbox(key="runs_pick").set_value(run.id).run()
    assert at.button(key="runs_live_stop") is not None
    at.button(key="runs_live_stop").click().run()
    assert not at.exception
    assert run.status()["status"] == "stopped"


# -- compare -------------------------------------------------------------------------------
def test_compare_renders_maps_for_two_runs(env):
    at = app("compare")
    at.multiselect(key="cmp_runs").set_value([env["vanilla"].id, env["kd"].id]).run()
    assert not at.exception
    assert len(at.image) == 1
    assert at.image[0].value  # a PNG was sent
    table = at.dataframe[0].value
    assert len(table) == 2
    assert any("map match" in c for c in table.columns)  # the kd run carries teacher maps
    at.slider(key="cmp_epoch").set_value(0).run()
    at.toggle(key="cmp_cam").set_value(False).run()
    assert not at.exception and len(at.image) == 1


# -- executive summary ---------------------------------------------------------------------
def test_summary_numbers_report_and_onnx(env):
    at = app("summary")
    at.selectbox(key="sum_run").set_value(env["kd"].id).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy kept"].endswith("%")
    assert metrics["Smaller"].endswith("×") and metrics["Faster"].endswith("×")
    assert at.get("download_button"), "no report download"
    at.button(key="onnx_export").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(s.value.startswith("Checked") for s in at.success)
    assert (env["kd"].path / "export" / "student.onnx").exists()
    assert len(at.get("download_button")) == 2


# -- explore -------------------------------------------------------------------------------
def test_explore_queues_one_run_per_point(env):
    at = app("explore")
    at.selectbox(key="p_ex_method").set_value("kd").run()
    at.selectbox(key="p_ex_axis0").set_value("temperature").run()
    at.text_input(key="p_ex_vals_0_kd_temperature").set_value("abc").run()
    assert any("not a valid float" in e.value for e in at.error)
    at.text_input(key="p_ex_vals_0_kd_temperature").set_value("2, 4").run()
    at.number_input(key="p_ex_per_class").set_value(5)
    at.number_input(key="p_ex_max_steps").set_value(1)
    before = run_ids(env["runs"])
    at.button(key="sweep").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    new = [RunStore(env["runs"]).get(i).config() for i in run_ids(env["runs"]) - before]
    assert sorted(c["method_params"]["temperature"] for c in new) == [2.0, 4.0]
    assert all(c["name"].startswith("sweep-") for c in new)
    assert len(at.dataframe[0].value) == 2
    assert not at.get("plotly_chart")  # nothing has finished yet

    from lakd.api import execute
    for run_id in run_ids(env["runs"]) - before:  # what the background worker would do
        execute(RunStore(env["runs"]).get(run_id))
    at.run()
    assert not at.exception
    assert at.get("plotly_chart"), "no chart of accuracy against the setting"
    assert any(c.value.startswith("Best so far: temperature=") for c in at.caption)


# -- uploads ---------------------------------------------------------------------------------
def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("bad", ["../evil.txt", "/etc/evil.txt", "data/../../evil.txt", "C:/evil.txt"])
def test_zip_members_outside_the_folder_are_refused(tmp_path, bad):
    from app.uploads import UploadError, extract_zip

    with pytest.raises(UploadError, match="refused"):
        extract_zip(make_zip({"train/a/x.png": b"1", bad: b"2"}), "set.zip", tmp_path / "uploads")
    assert not (tmp_path / "evil.txt").exists()
    uploads = tmp_path / "uploads"
    assert not uploads.exists() or not list(uploads.iterdir())  # nothing half-extracted is left


def test_zip_size_is_capped(tmp_path):
    from app.uploads import UploadError, extract_zip

    with pytest.raises(UploadError, match="MiB"):
        extract_zip(make_zip({"train/a/x.bin": b"0" * 5000}), "big.zip", tmp_path, max_bytes=1000)


def test_zip_extracts_and_finds_the_data_root(tmp_path):
    from app.uploads import extract_zip

    root = extract_zip(make_zip({"pets/train/cat/1.png": b"1", "pets/val/cat/2.png": b"2"}), "my pets.zip", tmp_path)
    assert root == tmp_path / "my-pets" / "pets" and (root / "train" / "cat" / "1.png").read_bytes() == b"1"


def test_teacher_pack_is_made_shown_and_used_as_a_teacher(env):
    at = app("teacher")
    at.text_input(key="p_pack_name").set_value("demo-pack")
    at.button(key="make_pack").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    pack = env["runs"] / "packs" / "demo-pack"
    assert (pack / "manifest.json").exists() and (pack / "map0.npy").exists()
    table = at.dataframe[-1].value
    row = table[table["pack"] == "demo-pack"].iloc[0]
    assert (row["per image"], row["with raw features instead"]) == ("5.3 KB", "112.0 KB")  # resnet20 on 32x32
    assert any(c.proto.spec and "Bytes per image" in c.proto.spec for c in at.get("plotly_chart"))

    at = app("distill")
    at.selectbox(key="p_method").set_value("kd").run()
    at.selectbox(key="p_teacher").set_value(f"pack:{pack}").run()
    assert at.checkbox(key="p_augment").disabled
    at.number_input(key="p_epochs").set_value(1)
    at.number_input(key="p_batch").set_value(16)
    at.number_input(key="p_max_steps").set_value(1)
    at.number_input(key="p_per_class").set_value(5).run()
    at.button(key="launch").click().run()
    assert any("made for other data" in e.value and "training images: pack 3000, this run 50" in e.value
               for e in at.error), [e.value for e in at.error]
    before = run_ids(env["runs"])
    at.number_input(key="p_per_class").set_value(0).run()
    at.button(key="launch").click().run()
    assert not at.error, [e.value for e in at.error]
    (new,) = run_ids(env["runs"]) - before
    cfg = RunStore(env["runs"]).get(new).config()
    assert (cfg["teacher"], cfg["teacher_pack"], cfg["augment"]) == (None, str(pack), False)


def test_a_zipped_pack_can_be_uploaded_and_a_broken_one_is_refused(env, tmp_path):
    from lakd.checkpoint import load_model
    from lakd.data import load_data
    from lakd.pack import make_pack

    pack = make_pack(load_model(env["teacher"]), load_data("sample", per_class=5), tmp_path / "vendor-pack")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in pack.iterdir():
            z.write(f, f"vendor-pack/{f.name}")
    at = app("teacher")
    at.file_uploader(key="pack_upload").set_value(("vendor-pack.zip", buf.getvalue(), "application/zip")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert (env["runs"] / "packs" / "vendor-pack" / "manifest.json").exists()
    assert "vendor-pack" in set(at.dataframe[-1].value["pack"])

    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("junk/readme.txt", "not a pack")
    at = app("teacher")
    at.file_uploader(key="pack_upload").set_value(("junk.zip", broken.getvalue(), "application/zip")).run()
    assert any("is not a teacher pack" in e.value for e in at.error)
    assert not (env["runs"] / "packs" / "junk").exists()
