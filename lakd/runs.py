"""The run store: one folder per run, shared by the CLI, the app and the benchmarks.

runs/<run-id>/
  config.json          the settings, as given (after defaults)
  status.json          queued | running | completed | failed | stopped | interrupted | diverged
  metrics.jsonl        one JSON line per finished epoch
  checkpoints/         student.safetensors (the bare deployable student),
                       last.safetensors (student + method extras + optimizer + metric rows), state.json
Every file is written atomically (temporary file, then rename) by `atomic_write_bytes`,
so a crash or a full disk never leaves a half-written file behind; a failed write is a
RunStoreError that names the file and the cause.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

DEFAULT_RUNS_DIR = Path(os.environ.get("LAKD_RUNS_DIR", "runs"))
TERMINAL = ("completed", "failed", "stopped", "interrupted", "diverged")
_UMASK = os.umask(0)
os.umask(_UMASK)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class RunStoreError(RuntimeError):
    pass


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write to a temporary file, then rename: readers see the old or the new file, never
    half of one. `durable` also flushes to disk first (skipped for throw-away progress)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise RunStoreError(write_problem(path, e)) from e
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; keep the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):  # disk full, read-only folder...: say which file and why
            raise RunStoreError(write_problem(path, e)) from e
        raise


def write_problem(path: Path, error: OSError) -> str:
    """'cannot write <path>: <cause>', the message for a failed write (the old file is kept)."""
    cause = error.strerror or str(error) or type(error).__name__
    return f"cannot write {path}: {cause}; nothing was changed there (free some space or fix its permissions)"


def atomic_write_json(path: Path, obj: Any, durable: bool = True) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode(), durable)


def safe_name(text: str, max_len: int = 48) -> str:
    """A user-given name made safe to use inside a file name (no separators, no dots first)."""
    cleaned = _SAFE.sub("-", text).strip(".-_")
    return cleaned[:max_len] or "run"


def new_run_id(*parts: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    label = "-".join(safe_name(p, 24) for p in parts if p)
    return f"{stamp}-{label}-{secrets.token_hex(2)}" if label else f"{stamp}-{secrets.token_hex(2)}"


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child counts as dead
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class Run:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def student_checkpoint(self) -> Path:
        return self.checkpoint_dir / "student.safetensors"

    def config(self) -> dict:
        return json.loads((self.path / "config.json").read_text())

    def write_config(self, config: dict) -> None:
        atomic_write_json(self.path / "config.json", config)

    def status(self) -> dict:
        """The recorded status; a 'running' run whose process is gone reads 'interrupted'."""
        try:
            st = json.loads((self.path / "status.json").read_text())
        except FileNotFoundError:
            st = {"status": "unknown"}
        if st.get("status") in ("running", "starting") and not pid_alive(st.get("pid")):
            st["status"] = "interrupted"
            st.setdefault("message", "the training process ended without saying so (killed or crashed)")
        return st

    def set_status(self, status: str, **fields) -> None:
        try:
            st = json.loads((self.path / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            st = {}
        st.update(fields)
        st["status"] = status
        st["updated"] = time.time()
        atomic_write_json(self.path / "status.json", st)

    def metrics(self) -> list[dict]:
        try:
            text = (self.path / "metrics.jsonl").read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def write_metrics(self, rows: list[dict]) -> None:
        atomic_write_bytes(self.path / "metrics.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode())

    def write_progress(self, info: dict) -> None:
        atomic_write_json(self.path / "progress.json", {**info, "time": time.time()}, durable=False)

    def progress(self) -> dict | None:
        """The latest in-epoch progress of a running run (epoch, step, steps, loss, images_per_s)."""
        try:
            return json.loads((self.path / "progress.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def request_stop(self) -> None:
        """Ask the training process to save and stop at its next step."""
        atomic_write_bytes(self.path / "stop", b"")

    @property
    def stop_requested(self) -> bool:
        return (self.path / "stop").exists()

    def clear_stop(self) -> None:
        try:
            (self.path / "stop").unlink()
        except FileNotFoundError:
            pass

    def queue_resume(self) -> None:
        """Put a stopped or interrupted run back in the queue, to continue from its checkpoint."""
        self.clear_stop()
        self.set_status("queued", resume=True, message="queued to resume")

    def training_state(self) -> dict | None:
        try:
            return json.loads((self.checkpoint_dir / "state.json").read_text())
        except FileNotFoundError:
            return None


class RunStore:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else DEFAULT_RUNS_DIR

    def create(self, config: dict, *label: str) -> Run:
        """A new run folder with its config, queued. mkdir is the claim: two launches at the
        same moment never share a folder; a failed write leaves no half-made run behind."""
        for _ in range(20):
            path = self.root / new_run_id(*label)
            try:
                if not self.root.is_dir():
                    self.root.mkdir(parents=True)
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                raise RunStoreError(f"cannot create a run in {self.root}: {e.strerror or e}") from e
            run = Run(path)
            try:
                run.write_config({**config, "run_id": run.id})
                run.set_status("queued", created=time.time())
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
            return run
        raise RunStoreError(f"could not create a unique run folder in {self.root}")

    def get(self, run_id: str) -> Run:
        """A run by id. The id must be a plain folder name inside the store."""
        if not run_id or safe_name(run_id, 200) != run_id:
            raise RunStoreError(f"invalid run id {run_id!r}")
        path = self.root / run_id
        if not (path / "config.json").exists():
            raise RunStoreError(f"no run {run_id!r} in {self.root.resolve()}")
        return Run(path)

    def find(self, run_id: str) -> Run | None:
        """A run by id, or None: none there, or an id that is not a plain folder name
        (so a user's '../elsewhere' never leaves the store)."""
        try:
            return self.get(run_id)
        except RunStoreError:
            return None

    def __iter__(self) -> Iterator[Run]:
        if not self.root.exists():
            return iter(())
        return iter(sorted((Run(p) for p in self.root.iterdir() if (p / "config.json").exists()), key=lambda r: r.id))

    def list(self) -> list[Run]:
        return list(self)
