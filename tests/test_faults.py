"""Faults and bad input: each promise in docs/reliability.md, proved here.

Runs are tiny (resnet8 on a few batches of the bundled sample). The kill tests start
the real `python -m lakd start` / `worker` processes the app uses; the disk-full tests
make the operating system's write fail (a real read-only folder when not root, else an
ENOSPC raised where the bytes reach the disk)."""
from __future__ import annotations

import errno
import io
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

import lakd.worker
from lakd import api
from lakd.checkpoint import CheckpointError, load_model, load_state_dict_file, save_model
from lakd.cli import main as cli_main
from lakd.config import ConfigError, RunConfig
from lakd.models import build_model
from lakd.runs import Run, RunStore, RunStoreError

REPO = Path(__file__).resolve().parent.parent
# 3 epochs of 40 steps: long enough to be caught inside epoch 2, short enough to stay cheap
FAULT_RUN = dict(method="vanilla", student="resnet8", epochs=3, seed=1, deterministic=True, per_class=50,
                 batch_size=16, max_steps_per_epoch=40, eval_every=3, save_maps=False, device="cpu")
TINY = dict(method="vanilla", student="resnet8", per_class=20, batch_size=32, max_steps_per_epoch=3, save_maps=False,
            device="cpu")
COMPARED = ("epoch", "lr", "loss", "loss_ce", "train_acc", "test_acc")


@pytest.fixture
def one_thread():
    """Child processes run with one thread; so does the in-process side of a comparison."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run every interrupted one must end up equal to."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run, rows = api.train(RunConfig(**FAULT_RUN), tmp_path_factory.mktemp("reference"))
    finally:
        torch.set_num_threads(before)
    return rows, load_model(run.student_checkpoint).state_dict()


def assert_same_as_reference(run: Run, reference) -> None:
    rows, weights = reference
    got = run.metrics()
    assert [{k: r.get(k) for k in COMPARED} for r in got] == [{k: r.get(k) for k in COMPARED} for r in rows]
    assert got[-1]["test_acc"] is not None
    mine = load_model(run.student_checkpoint).state_dict()
    assert all(torch.equal(mine[k], weights[k]) for k in weights)


def engine_process(args: list[str], log: Path) -> subprocess.Popen:
    """`python -m lakd ARGS` as the app's worker starts it (one thread, this checkout's engine)."""
    env = lakd.worker.engine_env(OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "lakd", *args], stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, cwd=REPO)


def wait_inside_a_later_epoch(run: Run, proc: subprocess.Popen, log: Path, timeout: float = 120) -> int:
    """Until an epoch after the first has taken a step past the last checkpoint; returns it
    (2, or 3 on a machine so busy that all of epoch 2 slipped between two looks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prog, state = run.progress() or {}, run.training_state() or {}
        if prog.get("epoch", 0) >= 2 and state.get("epoch") == prog["epoch"] - 1:
            return prog["epoch"]
        if proc.poll() is not None:
            pytest.fail(f"process ended early ({proc.returncode}):\n{log.read_text()[-3000:]}")
        time.sleep(0.01)
    pytest.fail(f"never reached epoch 2:\n{log.read_text()[-3000:]}")


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder (None) under `folder`."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


# -- faults: killed, stopped, diverged --------------------------------------------------
def test_sigkill_mid_epoch_reads_interrupted_and_resume_equals_an_uninterrupted_run(reference, tmp_path):
    runs = tmp_path / "runs"
    run = api.create_run(RunConfig(**FAULT_RUN), runs)
    log = tmp_path / "first.log"
    proc = engine_process(["start", run.id, "--runs-dir", str(runs)], log)
    epoch = wait_inside_a_later_epoch(run, proc, log)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    assert run.status()["status"] == "interrupted"
    assert [r["epoch"] for r in run.metrics()] == list(range(1, epoch))
    assert run.training_state()["epoch"] == epoch - 1

    run.queue_resume()  # the app's Resume button; the worker then runs `lakd start`
    again = engine_process(["start", run.id, "--runs-dir", str(runs)], tmp_path / "second.log")
    assert again.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()[-3000:]
    assert run.status()["status"] == "completed"
    assert_same_as_reference(run, reference)


def test_sigterm_to_the_worker_stops_the_run_cleanly_and_it_resumes(reference, tmp_path, one_thread):
    runs = tmp_path / "runs"
    run = api.create_run(RunConfig(**FAULT_RUN), runs)
    log = tmp_path / "worker.log"
    worker = engine_process(["worker", "--runs-dir", str(runs), "--parallel", "1", "--idle-exit", "60"], log)
    epoch = wait_inside_a_later_epoch(run, worker, log)
    worker.send_signal(signal.SIGTERM)  # the app (or the machine) shutting down
    assert worker.wait(timeout=120) == 0, log.read_text()

    status = run.status()
    assert status["status"] == "stopped", (status, (run.path / "log.txt").read_text()[-2000:])
    assert f"resume continues after epoch {epoch - 1}" in status["message"]
    assert [r["epoch"] for r in run.metrics()] == list(range(1, epoch))
    api.execute(run, resume=True)
    assert run.status()["status"] == "completed"
    assert_same_as_reference(run, reference)


def test_nan_loss_stops_as_diverged_naming_epoch_and_loss_and_keeps_the_last_good_checkpoint(runs_dir, capsys):
    # a real blow-up: the step schedule multiplies the learning rate by 1e8 from epoch 2
    rc = cli_main(["train-teacher", "--arch", "resnet8", "--epochs", "3", "--per-class", "50", "--batch-size", "16",
                   "--max-steps-per-epoch", "20", "--lr", "0.05", "--schedule", "step", "--milestones", "1",
                   "--gamma", "1e8", "--augment", "false", "--device", "cpu", "--eval-every", "3",
                   "--runs-dir", str(runs_dir), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "diverged" in err and "epoch 2" in err and "'ce'" in err and "Traceback" not in err
    (run,) = RunStore(runs_dir).list()
    status = run.status()
    assert status["status"] == "diverged"
    assert "in epoch 2" in status["message"] and "loss 'ce'" in status["message"]
    assert [r["epoch"] for r in run.metrics()] == [1]
    assert run.training_state()["epoch"] == 1
    kept = load_model(run.student_checkpoint)
    assert all(torch.isfinite(v).all() for v in kept.state_dict().values() if v.is_floating_point())
    tensors, meta = load_state_dict_file(run.checkpoint_dir / "last.safetensors")
    assert meta["state"]["epoch"] == 1 and all(torch.isfinite(v).all() for v in tensors.values() if v.is_floating_point())


def test_a_kill_between_checkpoint_and_metrics_loses_no_epoch(runs_dir, monkeypatch):
    run = api.create_run(RunConfig(epochs=2, **TINY), runs_dir)
    write_metrics = Run.write_metrics

    def killed_after_the_checkpoint(self, rows):
        if rows[-1]["epoch"] == 2:
            raise KeyboardInterrupt  # the process dies here: checkpoint saved, metrics not yet
        write_metrics(self, rows)

    monkeypatch.setattr(Run, "write_metrics", killed_after_the_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        api.execute(run)
    monkeypatch.undo()
    assert run.training_state()["epoch"] == 2 and [r["epoch"] for r in run.metrics()] == [1]

    rows = api.execute(run, resume=True)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert [r["epoch"] for r in run.metrics()] == [1, 2]
    assert run.status()["status"] == "completed" and run.status()["test_acc"] == rows[-1]["test_acc"]


# -- faults: full disk, unwritable folder, atomic writes -----------------------------------
def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_refuses_a_new_run_clearly_and_leaves_existing_runs_untouched(runs_dir, monkeypatch, capsys):
    old = api.create_run(RunConfig(epochs=1, **TINY), runs_dir)
    old.write_metrics([{"epoch": 1, "loss": 1.0}])
    save_model(old.student_checkpoint, build_model("resnet8"))
    before = snapshot(runs_dir)

    monkeypatch.setattr(os, "fsync", no_space)  # every durable write now hits a full disk
    rc = cli_main(["distill", "--method", "vanilla", "--epochs", "1", "--runs-dir", str(runs_dir), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "No space left on device" in err and str(runs_dir) in err
    with pytest.raises(RunStoreError, match=r"status\.json: No space left on device"):
        old.set_status("running")
    with pytest.raises(RunStoreError, match=r"student\.safetensors: No space left on device"):
        save_model(old.student_checkpoint, build_model("resnet8", num_classes=3))
    monkeypatch.undo()

    assert snapshot(runs_dir) == before  # no half-made run, no temporary file, old files byte for byte
    assert [r.id for r in RunStore(runs_dir)] == [old.id]


def test_unwritable_run_store_is_a_clear_error(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    old = api.create_run(RunConfig(epochs=1, **TINY), runs)
    before = snapshot(runs)
    if os.geteuid() != 0:
        for folder in (runs, old.path):
            folder.chmod(0o555)
    else:  # root writes through permissions: make the OS calls answer as a read-only folder would
        def denied(*args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        monkeypatch.setattr(os, "mkdir", denied)
        monkeypatch.setattr("tempfile.mkstemp", denied)
    try:
        rc = cli_main(["distill", "--method", "vanilla", "--epochs", "1", "--runs-dir", str(runs), "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 2 and "Traceback" not in err
        assert "Permission denied" in err and str(runs) in err
        with pytest.raises(RunStoreError, match="Permission denied"):
            old.request_stop()
    finally:
        monkeypatch.undo()
        for folder in (runs, old.path):
            folder.chmod(0o755)
    assert snapshot(runs) == before


def test_full_disk_during_training_keeps_the_last_checkpoint_and_the_run_resumes(runs_dir, monkeypatch):
    run = api.create_run(RunConfig(epochs=2, **TINY), runs_dir)

    def disk_fills_in_epoch_two(info):
        if info["epoch"] == 2:
            monkeypatch.setattr(os, "fsync", no_space)

    with pytest.raises(RunStoreError, match=r"last\.safetensors: No space left on device"):
        api.execute(run, progress=disk_fills_in_epoch_two)
    monkeypatch.undo()
    assert run.training_state()["epoch"] == 1 and [r["epoch"] for r in run.metrics()] == [1]
    assert load_state_dict_file(run.checkpoint_dir / "last.safetensors")[1]["state"]["epoch"] == 1
    assert not list(run.path.rglob("*.tmp"))
    rows = api.execute(run, resume=True)
    assert [r["epoch"] for r in rows] == [1, 2] and run.status()["status"] == "completed"


def test_uploads_on_a_full_disk_are_a_clear_error_and_leave_nothing(tmp_path, monkeypatch):
    from app.uploads import UploadError, extract_zip, save_checkpoint_upload

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(UploadError, match="teacher.safetensors: No space left on device"):
        save_checkpoint_upload("teacher.safetensors", b"weights", uploads)
    real_open = io.open

    def full(file, mode="r", *a, **kw):
        if "w" in mode and uploads in Path(file).parents:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(file, mode, *a, **kw)

    monkeypatch.setattr("builtins.open", full)
    with pytest.raises(UploadError, match=r"could not extract 'set.zip' into .*: No space left on device"):
        extract_zip(zip_of({"train/a/1.png": b"1", "val/a/2.png": b"2"}), "set.zip", uploads)
    monkeypatch.undo()
    assert list(uploads.iterdir()) == []


def test_every_file_of_a_run_is_written_by_rename(runs_dir, monkeypatch):
    """No file in a run folder is ever opened for writing in place: each one appears by
    an atomic rename of a finished temporary file."""
    import builtins

    renamed, in_place, store = set(), [], runs_dir.resolve()
    real_replace, real_open = os.replace, io.open

    def replace(src, dst, *a, **kw):
        renamed.add(Path(dst).resolve())
        return real_replace(src, dst, *a, **kw)

    def guarded_open(file, mode="r", *a, **kw):
        if not isinstance(file, int) and any(c in mode for c in "wax+") and store in Path(file).resolve().parents:
            in_place.append(str(file))
        return real_open(file, mode, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(builtins, "open", guarded_open)
    run, _ = api.train(RunConfig(**{**TINY, "epochs": 1, "save_maps": True}), runs_dir)
    monkeypatch.undo()

    files = {p.resolve() for p in run.path.rglob("*") if p.is_file()}
    expected = {"config.json", "status.json", "progress.json", "metrics.jsonl", "checkpoints/last.safetensors",
                "checkpoints/student.safetensors", "checkpoints/state.json", "maps/student_epoch000.safetensors",
                "maps/student_epoch001.safetensors"}
    assert {str(p.relative_to(run.path.resolve())) for p in files} == expected
    assert in_place == [] and files <= renamed


# -- faults: two launches at once ------------------------------------------------------------
def test_two_launches_at_the_same_moment_get_two_intact_queued_runs(runs_dir, monkeypatch):
    # both sessions draw the same id first: only mkdir's claim keeps them apart
    ids = iter(["20250101-120000-same-beef", "20250101-120000-same-beef", "20250101-120000-same-cafe",
                "20250101-120000-same-f00d"])
    lock = threading.Lock()

    def next_id(*parts):
        with lock:
            return next(ids)

    monkeypatch.setattr("lakd.runs.new_run_id", next_id)
    barrier, made, errors = threading.Barrier(2), [], []

    def launch(lr):
        try:
            cfg = RunConfig(method="vanilla", lr=lr, name="same")
            barrier.wait()
            made.append((lr, api.create_run(cfg, runs_dir)))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=launch, args=(lr,)) for lr in (0.01, 0.02)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len({run.path for _, run in made}) == 2
    for lr, run in made:
        assert run.config()["lr"] == lr and run.config()["run_id"] == run.id
        assert run.status()["status"] == "queued"
    assert {r.id for r in RunStore(runs_dir)} == {run.id for _, run in made}
    assert len(lakd.worker.queued_runs(RunStore(runs_dir))) == 2


def test_a_second_worker_for_the_same_store_exits_at_once(runs_dir):
    import fcntl

    runs_dir.mkdir()
    with open(runs_dir / lakd.worker.LOCK_NAME, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert lakd.worker.worker_alive(runs_dir)
        assert lakd.worker.serve(runs_dir, idle_exit_s=30) == 0  # returns at once, starts nothing


# -- bad input: checkpoints -----------------------------------------------------------------
class Payload:
    """Unpickling this runs a shell command: what a booby-trapped checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def evil_checkpoints(tmp_path):
    """The same code-running pickle as a legacy .pt, a zip-format .pt and a fake .safetensors."""
    marker = tmp_path / "code-ran"
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"conv.weight": Payload(marker)}, protocol=2))
    with open(legacy, "rb") as f:  # armed: a plain unpickler would run it
        pickle.load(f)
    assert marker.exists()
    marker.unlink()
    zipped = tmp_path / "zipped.pth"
    torch.save({"state_dict": {"conv.weight": Payload(marker)}}, zipped)
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(legacy.read_bytes())
    return marker, [legacy, zipped, fake]


def test_a_checkpoint_with_code_is_refused_and_no_code_runs(evil_checkpoints, runs_dir, capsys):
    marker, files = evil_checkpoints
    for path in files:
        with pytest.raises(CheckpointError, match="refused|not a readable safetensors"):
            load_model(path, arch="resnet8")
    zipped = str(files[1])
    assert cli_main(["distill", "--method", "kd", "--teacher", zipped, "--teacher-arch", "resnet20", "--epochs", "1",
                     "--per-class", "5", "--batch-size", "8", "--runs-dir", str(runs_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "weights-only" in err and "Traceback" not in err
    assert cli_main(["eval", "--checkpoint", zipped, "--arch", "resnet8"]) == 2
    assert "refused" in capsys.readouterr().err
    assert not marker.exists()
    assert RunStore(runs_dir).list() == []  # the refused launch left no run behind


def test_cli_names_both_architectures_and_both_class_counts(tmp_path, runs_dir, capsys):
    teacher = tmp_path / "t.safetensors"
    save_model(teacher, build_model("resnet8", num_classes=10))
    common = ["--epochs", "1", "--batch-size", "2", "--runs-dir", str(runs_dir), "--no-progress"]
    assert cli_main(["distill", "--method", "kd", "--teacher", str(teacher), "--teacher-arch", "resnet20", *common]) == 2
    err = capsys.readouterr().err
    assert "'resnet8'" in err and "'resnet20'" in err
    root = image_folder(tmp_path / "two")
    assert cli_main(["distill", "--method", "kd", "--teacher", str(teacher), "--data", "imagefolder",
                     "--data-root", str(root), *common]) == 2
    assert "has 10 classes but the data has 2" in capsys.readouterr().err
    assert RunStore(runs_dir).list() == []


# -- bad input: zip uploads -------------------------------------------------------------------
def zip_of(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # a symbolic link
            z.writestr(info, target)
    return buf.getvalue()


def test_zip_with_a_symbolic_link_is_refused(tmp_path):
    from app.uploads import UploadError, extract_zip

    data = zip_of({"train/a/x.png": b"1"}, symlinks={"train/a/passwd.png": "/etc/passwd"})
    with pytest.raises(UploadError, match="symbolic link"):
        extract_zip(data, "set.zip", tmp_path / "uploads")
    assert not (tmp_path / "uploads").exists() or not list((tmp_path / "uploads").iterdir())


def test_zip_bomb_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import app.uploads as uploads

    bomb = zip_of({"train/a/zeros.png": bytes(8 * 2**20)})  # 8 MiB of zeros
    assert len(bomb) < 2**16  # ... in a zip of a few KB: an expansion of over 100x
    opened = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **kw: opened.append(a) or pytest.fail("member read"))
    monkeypatch.setattr(uploads, "DEFAULT_MAX_UNZIPPED", 2**20)
    with pytest.raises(uploads.UploadError, match="unpacks to 8 MiB, more than the 1 MiB allowed"):
        uploads.extract_zip(bomb, "bomb.zip", tmp_path / "uploads")
    assert opened == [] and not (tmp_path / "uploads").exists()


# -- bad input: image folders -------------------------------------------------------------------
def png(color=(200, 50, 50), size=(12, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def truncated_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((48, 48), 60).convert("RGB").save(buf, format="JPEG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def image_folder(root: Path, classes=("cats", "dogs"), per_class=2) -> Path:
    for split in ("train", "val"):
        for i, c in enumerate(classes):
            (root / split / c).mkdir(parents=True)
            for k in range(per_class):
                (root / split / c / f"{k}.png").write_bytes(png((40 * i, 90, 40 * k)))
    return root


def broken_files(root: Path) -> list[Path]:
    bad = [root / "train" / "cats" / "broken.png", root / "train" / "cats" / "notes.txt",
           root / "train" / "dogs" / "cut.jpg"]
    bad[0].write_bytes(b"\x89PNG not really")
    bad[1].write_text("not an image")
    bad[2].write_bytes(truncated_jpeg())  # its header is fine: only decoding the pixels finds it
    return bad


def test_truncated_jpeg_is_caught_before_training(tmp_path):
    from lakd.data import DataError, load_data

    root = image_folder(tmp_path)
    (root / "train" / "dogs" / "cut.jpg").write_bytes(truncated_jpeg())
    with pytest.raises(DataError, match=r"1 unreadable file.*cut\.jpg.*truncated"):
        load_data("imagefolder", root)


@pytest.mark.parametrize("problem", ["bad files", "empty class", "single class"])
def test_cli_reports_bad_image_folders_with_paths_and_counts(problem, tmp_path, runs_dir, capsys):
    root = image_folder(tmp_path / "data", classes=("only",) if problem == "single class" else ("cats", "dogs"))
    if problem == "bad files":
        expected = ["3 unreadable file(s)", *map(str, broken_files(root))]
    elif problem == "empty class":
        for f in (root / "train" / "dogs").iterdir():
            f.unlink()
        expected = ["empty class folder(s), 1 of 2", str(root / "train" / "dogs")]
    else:
        expected = [f"{root / 'train'} has 1 class folder(s): only", "at least 2"]
    rc = cli_main(["distill", "--method", "vanilla", "--data", "imagefolder", "--data-root", str(root), "--epochs", "1",
                   "--batch-size", "2", "--runs-dir", str(runs_dir), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    for text in expected:
        assert text in err
    assert RunStore(runs_dir).list() == []  # refused before training: no run left behind


# -- bad input: settings ---------------------------------------------------------------------------
@pytest.mark.parametrize("flags, message", [
    (["--lr", "nan"], "lr must be a finite number >= 0, got nan"),
    (["--weight-decay", "-1"], "weight_decay must be a finite number >= 0, got -1"),
    (["--batch-size", "600", "--per-class", "50"], "batch_size 600 is larger than the training set (500 images)"),
    (["--method", "kd", "--ce-weight", "-1"], "ce_weight must be >= 0, got -1"),
    (["--method", "kd", "--temperature", "nan"], "temperature must be a finite number, got nan"),
    (["--method", "lakd", "--partition", "9"], "does not fit resnet8"),
])
def test_cli_refuses_out_of_range_settings_saying_what_is_allowed(flags, message, runs_dir, capsys):
    method = [] if "--method" in flags else ["--method", "vanilla"]
    rc = cli_main(["distill", *method, *flags, "--epochs", "1", "--runs-dir", str(runs_dir), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert RunStore(runs_dir).list() == []


def test_app_check_refuses_nan_and_negative_weights():
    from app.common import check_settings

    nan = check_settings(RunConfig(method="kd", teacher="bundled", method_params={"kd_weight": float("nan")}))
    assert "kd_weight must be a finite number" in nan
    assert "ce_weight must be >= 0" in check_settings(RunConfig(method="kd", teacher="bundled",
                                                                method_params={"ce_weight": -0.5}))


# -- bad input: run names and ids ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../etc", "a/b", "..", ".", "x\x00y", "/abs/path", "~root", "é" * 300,
                                  "..\\..\\win", ""])
def test_run_names_never_leave_the_run_store(name, tmp_path):
    runs = tmp_path / "runs"
    run = api.create_run(RunConfig(name=name or None), runs)
    assert run.path.parent == runs and run.path.resolve().parent == runs.resolve()
    assert set(run.id) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    assert not run.id.startswith(".") and len(run.id) < 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


BAD_IDS = ["../x", "..", ".", "a/b", "/etc", "x\x00y", "", "a" * 300, "ok/../../x", ".hidden"]


@pytest.mark.parametrize("run_id", BAD_IDS)
def test_run_ids_from_users_cannot_reach_outside_the_store(run_id, tmp_path):
    outside = tmp_path / "x"  # a run-shaped folder next to the store
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    with pytest.raises(RunStoreError, match="invalid run id"):
        RunStore(tmp_path / "runs").get(run_id)
    assert RunStore(tmp_path / "runs").find(run_id) is None


def test_cli_refuses_run_ids_that_are_paths(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    for args in (["eval", "--run", "../../etc", "--runs-dir", runs], ["start", "..", "--runs-dir", runs],
                 ["distill", "--resume", "../x", "--runs-dir", runs], ["train-teacher", "--resume", "/etc", "--runs-dir", runs]):
        assert cli_main(args) == 2, args
        assert "invalid run id" in capsys.readouterr().err


def test_a_teacher_run_id_cannot_point_outside_the_store(tmp_path):
    from lakd.data import load_data
    from lakd.trainer import resolve_teacher

    elsewhere = tmp_path / "elsewhere" / "run1"  # looks like a run, but outside the store
    save_model(elsewhere / "checkpoints" / "student.safetensors", build_model("resnet8"))
    (elsewhere / "config.json").write_text("{}")
    (tmp_path / "runs").mkdir()
    data = load_data("sample", per_class=2)
    with pytest.raises(ConfigError, match="not found"):
        resolve_teacher(RunConfig(method="kd", teacher="../elsewhere/run1"), data, tmp_path / "runs")


# -- server ----------------------------------------------------------------------------------------
def server_settings() -> dict:
    """The [server] table of .streamlit/config.toml (tomllib from Python 3.11; a plain
    reader of `key = value` lines before that)."""
    text = (REPO / ".streamlit" / "config.toml").read_text()
    try:
        import tomllib
    except ModuleNotFoundError:
        import json
        import re
        table = re.search(r"^\[server\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S).group(1)
        pairs = re.findall(r"^(\w+)\s*=\s*(.+?)\s*$", table, re.M)
        return {k: json.loads(v) for k, v in pairs}
    return tomllib.loads(text)["server"]


def test_server_binds_to_localhost_with_xsrf_and_an_upload_cap():
    server = server_settings()
    assert server["address"] == "localhost"
    assert server["enableXsrfProtection"] is True
    assert isinstance(server["maxUploadSize"], int) and 0 < server["maxUploadSize"] <= 2048
    readme = (REPO / "README.md").read_text()
    assert "## Exposing the app on a network" in readme
    assert "--server.address 0.0.0.0" in readme and "no authentication" in readme


# -- the same refusals in the app ------------------------------------------------------------------
@pytest.fixture(scope="module")
def app_env(tmp_path_factory):
    """A run store with one finished tiny run and an untrained stand-in for the bundled teacher."""
    root = tmp_path_factory.mktemp("app")
    mp = pytest.MonkeyPatch()
    teacher = root / "teacher.safetensors"
    save_model(teacher, build_model("resnet20"))
    runs = root / "runs"
    for key, value in {"LAKD_RUNS_DIR": runs, "LAKD_BUNDLED_TEACHER": teacher, "LAKD_LANG": "en"}.items():
        mp.setenv(key, str(value))
    mp.setattr(lakd.worker, "ensure_worker", lambda d: None)
    done, _ = api.train(RunConfig(epochs=1, name="done", **TINY), runs)
    yield {"root": root, "runs": runs, "done": done}
    mp.undo()


def app_page(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=180)
    at.session_state["lang"] = "en"
    at.run()
    at.switch_page(f"../pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def launch(at) -> list[str]:
    at.button(key="launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return [e.value for e in at.error]


def test_app_refuses_a_checkpoint_with_code(app_env, evil_checkpoints):
    marker, files = evil_checkpoints
    at = app_page("teacher")
    at.file_uploader(key="teacher_upload").set_value(("evil.pt", files[1].read_bytes(), "application/octet-stream")).run()
    assert not at.exception
    assert any("refused" in e.value and "weights-only" in e.value for e in at.error)
    assert not marker.exists()
    assert not list((app_env["runs"] / "uploads").glob("evil*"))  # a refused file is not kept


def test_app_reports_bad_images_before_launch(app_env):
    root = image_folder(app_env["root"] / "bad-images")
    bad = broken_files(root)
    at = app_page("distill")
    at.selectbox(key="p_method").set_value("vanilla").run()
    at.selectbox(key="p_data").set_value("imagefolder").run()
    at.text_input(key="p_root_imagefolder").set_value(str(root))
    at.number_input(key="p_batch").set_value(2).run()
    before = snapshot(app_env["runs"])
    errors = launch(at)
    assert any("3 unreadable file(s)" in e and all(str(p) in e for p in bad) for e in errors), errors
    assert snapshot(app_env["runs"]) == before


def test_app_refuses_a_zip_bomb(app_env, monkeypatch):
    import app.uploads

    monkeypatch.setattr(app.uploads, "DEFAULT_MAX_UNZIPPED", 2**20)
    at = app_page("distill")
    at.selectbox(key="p_data").set_value("imagefolder").run()
    bomb = zip_of({"train/a/zeros.png": bytes(8 * 2**20)})
    at.file_uploader(key="data_zip").set_value(("bomb.zip", bomb, "application/zip")).run()
    assert not at.exception
    assert any("refused 'bomb.zip'" in e.value and "MiB" in e.value for e in at.error)
    uploads = app_env["runs"] / "uploads"
    assert not uploads.exists() or not [p for p in uploads.iterdir() if p.is_dir()]


def test_app_refuses_a_negative_method_weight(app_env):
    at = app_page("distill")
    at.selectbox(key="p_method").set_value("kd").run()
    at.number_input(key="p_mp_kd_ce_weight").set_value(-1.0).run()
    before = snapshot(app_env["runs"])
    assert any("ce_weight must be >= 0" in e for e in launch(at))
    assert snapshot(app_env["runs"]) == before


def test_app_launch_on_a_full_disk_is_a_clear_error(app_env, monkeypatch):
    at = app_page("distill")
    at.selectbox(key="p_method").set_value("vanilla").run()
    at.number_input(key="p_per_class").set_value(10).run()
    before = snapshot(app_env["runs"])
    monkeypatch.setattr(os, "fsync", no_space)
    errors = launch(at)
    monkeypatch.undo()
    assert any(e.startswith("Not launched") and "No space left on device" in e for e in errors), errors
    assert snapshot(app_env["runs"]) == before


def test_app_stop_on_a_full_disk_is_a_clear_error(app_env, monkeypatch):
    run = api.create_run(RunConfig(epochs=1, name="parked", **TINY), app_env["runs"])
    at = app_page("runs")
    at.selectbox(key="runs_pick").set_value(run.id).run()
    before = snapshot(run.path)
    monkeypatch.setattr(os, "fsync", no_space)
    at.button(key="runs_live_stop").click().run()
    monkeypatch.undo()
    assert not at.exception, [e.value for e in at.exception]
    assert any("status.json: No space left on device" in e.value for e in at.error)
    assert snapshot(run.path) == before and run.status()["status"] == "queued"
    run.set_status("stopped", message="parked")  # out of the other tests' way


def test_app_shows_where_a_run_diverged(app_env):
    run = api.create_run(RunConfig(epochs=2, name="blown", **TINY), app_env["runs"])
    run.set_status("diverged", message="loss 'ce' became nan in epoch 2, step 3; the last good checkpoint is kept")
    at = app_page("runs")
    at.selectbox(key="runs_pick").set_value(run.id).run()
    assert not at.exception
    assert any("epoch 2" in e.value and "'ce'" in e.value for e in at.error)
