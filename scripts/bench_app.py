"""App benchmark: server start to first paint, Launch to the first curve point, maps for 16 images.

    .venv/bin/python scripts/bench_app.py [--reps 3] [--per-class 20] [--out bench_app_output.md]

Targets (product issue): first paint <= 2 s, Launch to first curve point <= 5 s (CPU, sample
data), maps for 16 images across all stages <= 0.5 s.

1. `streamlit run app/main.py` is started (fresh process each time, --reps times); the port is
   polled every 10 ms, the page is opened (a fresh browser context, so a cold browser cache)
   as soon as it accepts connections, and the Home page's h1 "LAKD Studio" is waited for.
2. On one fresh server: Home -> Distill through the UI, Epochs = 1 (everything else default:
   LAKD, bundled teacher, resnet8, sample data, batch 64, device auto), Launch, then
   "Open in Runs" and the live view is watched until the accuracy chart has a point.
   Done twice: all 3,000 sample images, then with "Training images per class" = --per-class.
   A thread watches the run folder meanwhile (engine-side breakdown).
   Then the Compare page is opened (the two runs, Grad-CAM on by default) and timed until the
   maps picture has loaded: once with cold app caches, then --reps times warm.
3. In process: `lakd.maps.model_maps` on `probe_batch(load_data("sample").test, 16)` for the
   bundled teacher (resnet20) and a resnet8 student, median of 20 after a warm-up.

LAKD_RUNS_DIR is a fresh temporary folder, removed at the end. Needs /usr/bin/chromium and
the playwright package. Prints a markdown report (and writes it to --out when given).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
CURVE_POINT = '[data-testid="stMain"] .js-plotly-plot .scatterlayer .point'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def busy_others(exclude: str, n: int = 5) -> str:
    """The busiest processes that are not this benchmark's (for the conditions line)."""
    try:
        out = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu", "--no-headers"], capture_output=True,
                             text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "?"
    mine = {os.getpid(), os.getppid()}
    rows = []
    for line in out:
        pid, cpu, args = line.split(None, 2)
        if int(pid) in mine or exclude in args or float(cpu) < 5 or args.startswith("ps "):
            continue
        rows.append(f"{cpu}% `{args[:70]}`")
        if len(rows) >= n:
            break
    return "; ".join(rows) or "none above 5% CPU"


# -- the server ------------------------------------------------------------------
class Server:
    """`streamlit run app/main.py` in its own process group; `t0` is the perf_counter at Popen."""

    def __init__(self, runs_dir: Path, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "LAKD_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1"}
        self.log = open(log_path, "wb")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_port(self, timeout: float = 120) -> float:
        """Seconds from Popen until the port accepts a connection."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.05):
                    return time.perf_counter() - self.t0
            except OSError:
                time.sleep(0.01)
        raise TimeoutError("the port never opened")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        self.log.close()


# -- browser helpers (as in tests/test_browser.py) ---------------------------------------
def wait_idle(page, timeout: float = 120) -> None:
    """Until Streamlit's running-script indicator has been absent for 1.5 s in a row."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 3:
        if time.monotonic() > deadline:
            raise TimeoutError("the app kept running its script")
        busy = page.locator('[data-testid="stStatusWidget"]').count() > 0
        quiet = 0 if busy else quiet + 1
        page.wait_for_timeout(500)


def no_exceptions(page) -> None:
    exc = page.locator('[data-testid="stException"]')
    if exc.count():
        raise RuntimeError("the app shows an exception: " + exc.first.inner_text()[:500])


def nav(page, label: str) -> None:
    page.get_by_role("link", name=label, exact=True).first.click()


def home_h1(page):
    return page.locator("h1", has_text="LAKD Studio").first


# -- the run folder watcher --------------------------------------------------------------
class RunWatcher(threading.Thread):
    """Polls the run store every 20 ms; records (epoch seconds) when each engine step happened,
    from the files' own time stamps where they have one, else from when it was first seen."""

    def __init__(self, runs_dir: Path, known: set[str], t_click: float):
        super().__init__(daemon=True)
        self.runs_dir, self.known, self.t_click = runs_dir, known, t_click
        self.events: dict[str, float] = {}
        self.run_id: str | None = None
        self.final: dict = {}
        self.stop_flag = False

    def _status(self, path: Path) -> dict | None:
        try:
            return json.loads((path / "status.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def run(self) -> None:
        ev = self.events
        lock = self.runs_dir / ".worker.lock"
        while not self.stop_flag:
            now = time.time()
            try:
                if "worker_ready" not in ev and lock.exists() and lock.stat().st_mtime > self.t_click and lock.stat().st_size:
                    ev["worker_ready"] = lock.stat().st_mtime  # the worker writes its pid after its imports
            except OSError:
                pass
            if self.run_id is None:
                for p in self.runs_dir.iterdir() if self.runs_dir.exists() else []:
                    if p.is_dir() and p.name not in self.known and (p / "status.json").exists():
                        self.run_id = p.name
                        break
            if self.run_id is not None:
                path = self.runs_dir / self.run_id
                st = self._status(path)
                if st:
                    ev.setdefault("created", st.get("created", now))
                    s = st.get("status")
                    if s == "starting":
                        ev.setdefault("starting", st.get("updated", now))
                    if s in ("running", "completed"):
                        ev.setdefault("starting", now)
                        ev.setdefault("running", st.get("started", now))
                    if s in ("completed", "failed", "diverged", "stopped", "interrupted"):
                        ev.setdefault("end", st.get("updated", now))
                        self.final = st
                        if s != "completed" or "metrics" in ev:
                            return
                if "progress" not in ev and (path / "progress.json").exists():
                    try:
                        ev["progress"] = json.loads((path / "progress.json").read_text()).get("time", now)
                    except (OSError, json.JSONDecodeError):
                        pass
                if "metrics" not in ev and (path / "metrics.jsonl").exists():
                    ev["metrics"] = (path / "metrics.jsonl").stat().st_mtime
            time.sleep(0.02)


# -- 1. server start to first paint -------------------------------------------------------
def bench_first_paint(browser, runs_dir: Path, tmp: Path, reps: int) -> dict:
    out = {"port": [], "paint": [], "complete": [], "warm_paint": []}
    for i in range(reps):
        ctx = browser.new_context(viewport={"width": 1400, "height": 950})
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        server = Server(runs_dir, tmp / f"streamlit-paint-{i}.log")
        try:
            out["port"].append(server.wait_port())
            page.goto(server.url, wait_until="commit")
            home_h1(page).wait_for()
            out["paint"].append(time.perf_counter() - server.t0)
            page.locator('[data-testid="stMain"] .js-plotly-plot').first.wait_for()  # the schematic
            out["complete"].append(time.perf_counter() - server.t0)
            no_exceptions(page)
            wait_idle(page)
            # a second visitor on the running server: a new tab, cold browser cache
            ctx2 = browser.new_context(viewport={"width": 1400, "height": 950})
            page2 = ctx2.new_page()
            t = time.perf_counter()
            page2.goto(server.url, wait_until="commit")
            home_h1(page2).wait_for(timeout=120_000)
            out["warm_paint"].append(time.perf_counter() - t)
            ctx2.close()
        finally:
            ctx.close()
            server.stop()
    return out


# -- 2. Launch to the first curve point ------------------------------------------------------
def set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(300)
    wait_idle(page)


def wait_worker_gone(runs_dir: Path, timeout: float = 60) -> None:
    from lakd.worker import worker_alive
    deadline = time.monotonic() + timeout
    while worker_alive(runs_dir) and time.monotonic() < deadline:
        time.sleep(0.2)


def bench_launch(page, url: str, runs_dir: Path, per_class: int | None, timeout: float = 900) -> dict:
    wait_worker_gone(runs_dir)  # every launch starts its own worker (as after an idle app)
    page.goto(url)
    home_h1(page).wait_for()
    wait_idle(page)
    nav(page, "Distill")
    page.get_by_role("button", name="Launch").wait_for()
    wait_idle(page)
    set_number(page, "Epochs", 1)
    if per_class:
        page.get_by_text("Advanced settings", exact=True).first.click()
        page.wait_for_timeout(300)
        set_number(page, "Training images per class", per_class)
    no_exceptions(page)
    known = {p.name for p in runs_dir.iterdir()} if runs_dir.exists() else set()
    load_before = load()

    t_click = time.time()
    watcher = RunWatcher(runs_dir, known, t_click)
    watcher.start()
    page.get_by_role("button", name="Launch").click()
    page.get_by_text("Queued as run").first.wait_for(timeout=120_000)
    ui = {"queued": time.time()}
    page.get_by_role("link", name="Open in Runs").first.click()
    page.get_by_text("Follow a run").first.wait_for(timeout=120_000)
    ui["runs_page"] = time.time()
    progress_text = page.get_by_text("Epoch 1 of 1: step")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if "progress" not in ui and progress_text.count():
            ui["progress"] = time.time()
        if page.locator(CURVE_POINT).count():
            ui["curve"] = time.time()
            break
        if watcher.final.get("status") not in (None, "completed"):
            raise RuntimeError(f"the run ended {watcher.final.get('status')}: {watcher.final.get('message')}")
        page.wait_for_timeout(100)
    else:
        raise TimeoutError("no curve point within the time limit")
    no_exceptions(page)
    watcher.join(timeout)  # until the run is completed
    watcher.stop_flag = True
    run_path = runs_dir / watcher.run_id
    cfg = json.loads((run_path / "config.json").read_text())
    rows = [json.loads(x) for x in (run_path / "metrics.jsonl").read_text().splitlines() if x.strip()]
    rel = lambda d: {k: v - t_click for k, v in d.items()}  # noqa: E731
    return {"run": watcher.run_id, "per_class": per_class, "ui": rel(ui), "engine": rel(watcher.events),
            "config": {k: cfg.get(k) for k in ("method", "student", "teacher", "data", "per_class", "epochs",
                                               "batch_size", "device", "max_steps_per_epoch")},
            "row": rows[0] if rows else {}, "load_before": load_before, "load_after": load()}


def bench_compare(page, reps: int) -> dict:
    """Click Compare (two finished runs) until the maps picture has loaded; first = cold caches."""
    times = []
    for i in range(reps + 1):
        nav(page, "Home")
        home_h1(page).wait_for()
        wait_idle(page)
        t = time.perf_counter()
        nav(page, "Compare")
        img = page.locator('[data-testid="stMain"] [data-testid="stImage"] img').first
        img.wait_for(timeout=180_000)
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=img.element_handle(),
                               timeout=60_000)
        times.append(time.perf_counter() - t)
        no_exceptions(page)
        wait_idle(page, 180)
    return {"cold": times[0], "warm": times[1:]}


# -- 3. maps in process ------------------------------------------------------------------------
def bench_maps(n: int = 20) -> dict:
    import torch

    from lakd.checkpoint import load_model
    from lakd.data import load_data
    from lakd.maps import model_maps, probe_batch
    from lakd.models import build_model
    from lakd.trainer import bundled_teacher_path

    bundle = load_data("sample")
    images, _ = probe_batch(bundle.test, 16)
    teacher = load_model(bundled_teacher_path())
    student = build_model("resnet8", num_classes=bundle.num_classes, in_channels=bundle.in_channels,
                          input_size=bundle.input_size)

    def timed(fn):
        fn()  # warm-up
        out = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return out

    res = {"teacher": timed(lambda: model_maps(teacher, images)), "student": timed(lambda: model_maps(student, images)),
           "both": timed(lambda: (model_maps(teacher, images), model_maps(student, images)))}
    maps, _ = model_maps(teacher, images)
    smaps, _ = model_maps(student, images)
    res["shapes"] = {"teacher": [tuple(m.shape) for m in maps], "student": [tuple(m.shape) for m in smaps]}
    res["archs"] = (teacher.describe().get("arch"), student.describe().get("arch"))
    res["threads"] = torch.get_num_threads()
    res["images"] = tuple(images.shape)
    return res


def import_times() -> dict[str, float]:
    """Seconds to import a module in a fresh interpreter (what a page run or a worker pays first)."""
    out = {}
    for mod in ("torch", "streamlit", "app.common", "lakd.cli"):
        code = (f"import sys,time;sys.path.insert(0,{str(REPO)!r});t=time.perf_counter();import {mod};"
                "print(time.perf_counter()-t)")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
        out[mod] = float(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else float("nan")
    return out


# -- report ------------------------------------------------------------------------------------
def med(xs) -> float:
    return statistics.median(xs)


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def met(x: float | None, target: float | None) -> str:
    if target is None or x is None:
        return "–"
    return "yes" if x <= target else "**no**"


def report(res: dict, args) -> str:
    L = []
    cond = res["conditions"]
    L.append("# LAKD Studio app benchmark\n")
    L.append(f"Command: `{cond['command']}`  ")
    L.append(f"Date: {cond['date']} · CPUs: {cond['cpus']} (usable {cond['affinity']}) · torch threads: "
             f"{res['maps']['threads']} · device: CPU · Python {cond['python']} · streamlit {cond['streamlit']} · "
             f"torch {cond['torch']} · Chromium headless ({CHROMIUM})  ")
    L.append(f"Load average (1/5/15 min) at start: **{cond['load_start']}**, at end: **{cond['load_end']}**.  ")
    samples = [cond["load_start"], cond["load_end"], *res["load_sections"].values(),
               *(r[k] for r in res["launch"] for k in ("load_before", "load_after"))]
    peak = max(float(v.split("/")[0]) for v in samples)
    L.append(f"**This machine (2 cores) is shared with background benchmark jobs that keep both cores busy**, so "
             f"every time below was measured under CPU contention: the 1-min load average was {cond['load_start'].split('/')[0]} "
             f"at start and peaked at about {peak:.1f} (part of that is this benchmark's own Streamlit server, Chromium "
             "and training child). With a load of L on 2 cores a busy process gets very roughly 2/L of a core, so "
             "these are not idle-machine numbers: on an idle machine they would be lower, by a factor this script "
             "does not measure. Each launch is a single sample.  ")
    L.append(f"Other busy processes at start (ps %CPU, averaged over each process's life): {cond['others_start']}.  ")
    L.append(f"Other busy processes at end: {cond['others_end']}.\n")

    p = res["paint"]
    lr = res["launch"]
    cmp_ = res.get("compare")
    mp = res["maps"]
    rows = []
    rows.append(("Server start → port accepts connections", med(p["port"]), None,
                 f"median of {len(p['port'])} fresh servers: " + ", ".join(fmt(x) for x in p["port"])))
    rows.append(("**Server start → first paint of Home** (h1 \"LAKD Studio\" visible)", med(p["paint"]), 2.0,
                 f"median of {len(p['paint'])}: " + ", ".join(fmt(x) for x in p["paint"]) +
                 "; page opened the moment the port accepted; fresh browser context"))
    rows.append(("Server start → Home complete (schematic drawn)", med(p["complete"]), None,
                 ", ".join(fmt(x) for x in p["complete"])))
    rows.append(("Home first paint for a 2nd visitor (server already up)", med(p["warm_paint"]), None,
                 "navigation → h1; " + ", ".join(fmt(x) for x in p["warm_paint"])))
    for r in lr:
        n_train = 10 * r["per_class"] if r["per_class"] else 3000
        steps = (n_train + r["config"]["batch_size"] - 1) // r["config"]["batch_size"]
        what = (f"{r['config']['method']}, {r['config']['student']} ← bundled resnet20, sample data "
                f"{n_train} train / 1000 test images, 1 epoch, batch {r['config']['batch_size']} ({steps} steps), "
                f"device {r['config']['device']}→CPU; epoch {fmt(r['row'].get('seconds'))} s train + "
                f"{fmt(r['row'].get('eval_seconds'))} s eval; load {r['load_before']} → {r['load_after']}")
        tag = "all 3,000 images" if not r["per_class"] else f"per class = {r['per_class']}"
        ui, en = r["ui"], r["engine"]
        rows.append((f"**Launch → first curve point** in Runs live view ({tag})", ui.get("curve"), 5.0, what))
        rows.append((f"Launch → in-epoch progress shown (progress bar \"Epoch 1 of 1: step …\") ({tag})",
                     ui.get("progress"), 5.0,
                     "the Runs page shows in-epoch progress only as a progress bar + text (no in-epoch loss curve)"
                     if "progress" in ui else "never seen: the epoch finished between two 2-s refreshes"))
    rows.append(("**model_maps, 16 images, teacher resnet20** (3 stages)", med(mp["teacher"]), 0.5,
                 f"in process, median of {len(mp['teacher'])} after warm-up; min {fmt(min(mp['teacher']))}, "
                 f"max {fmt(max(mp['teacher']))}; maps {mp['shapes']['teacher']}"))
    rows.append(("**model_maps, 16 images, student resnet8**", med(mp["student"]), 0.5,
                 f"min {fmt(min(mp['student']))}, max {fmt(max(mp['student']))}; maps {mp['shapes']['student']}"))
    rows.append(("model_maps teacher + student together", med(mp["both"]), 0.5,
                 f"min {fmt(min(mp['both']))}, max {fmt(max(mp['both']))}"))
    if cmp_:
        rows.append(("Compare page (2 runs): click → maps picture loaded, first visit", cmp_["cold"], 0.5,
                     "end to end in the browser: cold app caches (map files, Grad-CAM ×3, sample data, teacher "
                     "accuracy are computed/loaded), matplotlib grid → PNG; target is for the maps only"))
        rows.append(("Compare page (2 runs): click → maps picture loaded, revisit", med(cmp_["warm"]), 0.5,
                     f"median of {len(cmp_['warm'])} (warm st.cache): " + ", ".join(fmt(x) for x in cmp_["warm"])))

    L.append("| measurement | median s | target | met? | conditions |")
    L.append("|---|---:|---:|:---:|---|")
    for name, x, target, note in rows:
        L.append(f"| {name} | {fmt(x)} | {'–' if target is None else f'≤ {target:g} s'} | {met(x, target)} | {note} |")

    L.append("\n## Engine-side breakdown of each launch (seconds after the Launch click)\n")
    L.append("From the run folder, polled every 20 ms (time stamps written by the engine where it writes one: "
             "status `created`/`started`, progress.json `time`, metrics.jsonl mtime, the worker lock's mtime).\n")
    L.append("| step | " + " | ".join("all 3,000" if not r["per_class"] else f"per class {r['per_class']}" for r in lr) + " |")
    L.append("|---|" + "---:|" * len(lr))
    steps = [("run recorded (status.json `created`; UI settings check + create_run)", "engine", "created"),
             ("UI shows \"Queued as run\"", "ui", "queued"),
             ("Runs page open (\"Follow a run\")", "ui", "runs_page"),
             ("worker up (`python -m lakd worker` wrote its lock: imports torch via lakd.cli)", "engine", "worker_ready"),
             ("status `starting` (worker spawned `python -m lakd start`)", "engine", "starting"),
             ("status `running` (child imported torch, loaded data, built teacher+student)", "engine", "running"),
             ("first progress.json (teacher+student maps of epoch 0 saved, first step done)", "engine", "progress"),
             ("in-epoch progress visible in the UI", "ui", "progress"),
             ("first metrics line (epoch 1 trained + evaluated + checkpoint + maps)", "engine", "metrics"),
             ("curve point visible in the UI (2-s refresh)", "ui", "curve"),
             ("run completed", "engine", "end")]
    for label, side, key in steps:
        L.append(f"| {label} | " + " | ".join(fmt(r[side].get(key)) for r in lr) + " |")
    L.append("\nIntervals: " + "; ".join(
        f"{'all' if not r['per_class'] else 'per class ' + str(r['per_class'])}: created→starting "
        f"{fmt(_d(r, 'created', 'starting'))}, starting→running {fmt(_d(r, 'starting', 'running'))}, "
        f"running→first progress {fmt(_d(r, 'running', 'progress'))}, first progress→metrics "
        f"{fmt(_d(r, 'progress', 'metrics'))}, metrics→curve in UI "
        f"{fmt(r['ui'].get('curve', 0) - r['engine'].get('metrics', 0) if 'metrics' in r['engine'] else None)}"
        for r in lr) + ".")

    L.append("\n## Diagnostics\n")
    L.append("Import time in a fresh interpreter (s): " + ", ".join(f"`{k}` {v:.2f}" for k, v in res["imports"].items())
             + ". `app/main.py` imports `app.common` (torch, pandas, plotly, every lakd module) before the first "
             "page can draw; the worker and each run child import `lakd.cli` (torch) before doing anything.")
    L.append(f"\nLoad average per section: first paint {res['load_sections'].get('paint')}, launches "
             f"{res['load_sections'].get('launch')}, maps {res['load_sections'].get('maps')}.")
    return "\n".join(L) + "\n"


def _d(r: dict, a: str, b: str) -> float | None:
    e = r["engine"]
    return e[b] - e[a] if a in e and b in e else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="fresh servers for the first-paint measurement")
    ap.add_argument("--per-class", type=int, default=20, help="the small launch: training images per class")
    ap.add_argument("--no-compare", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    import streamlit
    import torch

    cond = {"command": "python " + " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "python": sys.version.split()[0], "streamlit": streamlit.__version__, "torch": torch.__version__,
            "load_start": load()}
    tmp = Path(tempfile.mkdtemp(prefix="lakd-bench-app-"))
    cond["others_start"] = busy_others(str(tmp))
    runs_dir = tmp / "runs"
    runs_dir.mkdir()
    os.environ["LAKD_RUNS_DIR"] = str(runs_dir)
    res: dict = {"conditions": cond, "load_sections": {}}
    print(f"runs dir: {runs_dir}; load {cond['load_start']}", file=sys.stderr)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            print("1. first paint ...", file=sys.stderr)
            res["paint"] = bench_first_paint(browser, runs_dir, tmp, args.reps)
            res["load_sections"]["paint"] = load()
            print(f"   {res['paint']}", file=sys.stderr)

            print("2. launch ...", file=sys.stderr)
            server = Server(runs_dir, tmp / "streamlit-launch.log")
            try:
                server.wait_port()
                ctx = browser.new_context(viewport={"width": 1400, "height": 950})
                page = ctx.new_page()
                page.set_default_timeout(120_000)
                res["launch"] = []
                for per_class in (None, args.per_class):
                    r = bench_launch(page, server.url, runs_dir, per_class)
                    print(f"   {r}", file=sys.stderr)
                    res["launch"].append(r)
                res["load_sections"]["launch"] = load()
                if not args.no_compare:
                    print("   compare ...", file=sys.stderr)
                    res["compare"] = bench_compare(page, args.reps)
                    print(f"   {res['compare']}", file=sys.stderr)
                ctx.close()
            finally:
                server.stop()
            browser.close()
        wait_worker_gone(runs_dir)
        print("3. maps ...", file=sys.stderr)
        res["maps"] = bench_maps()
        res["load_sections"]["maps"] = load()
        res["imports"] = import_times()
        cond["load_end"] = load()
        cond["others_end"] = busy_others(str(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = report(res, args)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
