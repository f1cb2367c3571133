"""Background execution of queued runs, outside any UI process.

The app (or anyone) records a run as "queued" and calls `ensure_worker`. One worker
per run store hands queued runs, oldest first, to child processes
(`python -m lakd start RUN_ID`): one at a time on CPU, a few at once on GPU. A
closed browser tab or a restarted app never stops a run; a killed child leaves its
run "interrupted", resumable from the last checkpoint; SIGTERM to the worker stops
its runs cleanly ("stopped", resumable).
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .runs import RunStore

LOCK_NAME = ".worker.lock"
LOG_NAME = ".worker.log"


def default_parallel() -> int:
    """1 run at a time on CPU, 2 on a GPU machine. Decided without importing torch (seconds
    of start-up), from the NVIDIA driver's presence."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return 1
    return 2 if Path("/proc/driver/nvidia/gpus").is_dir() and any(Path("/proc/driver/nvidia/gpus").iterdir()) else 1


def engine_env(**extra: str) -> dict[str, str]:
    """The environment for a child `python -m lakd ...`: this checkout's engine first on the path."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, **extra}


def queued_runs(store: RunStore) -> list:
    """Queued runs, oldest first (creation time, then id)."""
    runs = [(r.status(), r) for r in store]
    runs = [(st.get("created", 0), r.id, r) for st, r in runs if st.get("status") == "queued"]
    return [r for _, _, r in sorted(runs, key=lambda t: (t[0], t[1]))]


def start_command(run_id: str, runs_dir: Path) -> list[str]:
    return [sys.executable, "-m", "lakd", "start", run_id, "--runs-dir", str(runs_dir)]


def serve(runs_dir: str | Path, parallel: int | None = None, idle_exit_s: float = 120.0, poll_s: float = 0.5) -> int:
    """Run queued runs until none is left; returns how many were started. Exits at
    once if another worker holds the store's lock."""
    store = RunStore(runs_dir)
    store.root.mkdir(parents=True, exist_ok=True)
    lock = open(store.root / LOCK_NAME, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    parallel = parallel or default_parallel()
    children: dict[str, subprocess.Popen] = {}
    started = 0
    idle_since = time.monotonic()
    env = engine_env()
    try:
        while True:
            for rid, proc in list(children.items()):
                if proc.poll() is not None:
                    del children[rid]
            pending = [r for r in queued_runs(store) if r.id not in children]
            while pending and len(children) < parallel:
                run = pending.pop(0)
                log = open(run.path / "log.txt", "ab")
                children[run.id] = subprocess.Popen(start_command(run.id, store.root), stdout=log,
                                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
                # mark it taken at once, so a second look never starts it twice
                run.set_status("starting", pid=children[run.id].pid)
                started += 1
            if children or pending:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > idle_exit_s:
                return started
            time.sleep(poll_s)
    finally:
        stop_children(children.values())


def stop_children(children, grace_s: float = 60.0) -> None:
    """The worker is going (SIGTERM, Ctrl-C): pass SIGTERM on, so each run records
    itself 'stopped' (resumable) instead of training on unattended or dying unrecorded."""
    children = [p for p in children if p.poll() is None]
    for proc in children:
        proc.terminate()
    deadline = time.monotonic() + grace_s
    for proc in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def worker_alive(runs_dir: str | Path) -> bool:
    """True while some process holds the store's worker lock."""
    path = Path(runs_dir) / LOCK_NAME
    if not path.exists():
        return False
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def ensure_worker(runs_dir: str | Path) -> None:
    """Start a detached worker for this run store unless one is already serving it."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    if worker_alive(runs_dir):
        return
    log = open(runs_dir / LOG_NAME, "ab")
    env = engine_env()
    subprocess.Popen([sys.executable, "-m", "lakd", "worker", "--runs-dir", str(runs_dir)], stdout=log,
                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env)


def main(argv: list[str]) -> int:
    """`python -m lakd worker`: parsed here, without the CLI's training imports."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m lakd worker", allow_abbrev=False)
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--parallel", type=int, default=None, help="runs at once (default: 1 on CPU, 2 on GPU)")
    p.add_argument("--idle-exit", type=float, default=120.0, help="seconds with nothing queued before it exits")
    a = p.parse_args(argv)

    def on_term(signum, frame):  # shut down like Ctrl-C: serve() stops its runs on the way out
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        print(f"worker done: {serve(a.runs_dir, parallel=a.parallel, idle_exit_s=a.idle_exit)} run(s) started")
    except KeyboardInterrupt:
        print("worker stopped; its runs were asked to stop and can be resumed")
    return 0
