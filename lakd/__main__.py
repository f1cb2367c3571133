import sys

if sys.argv[1:2] == ["worker"]:
    # the background worker only watches run folders: skip the CLI's training imports so a
    # launch from the app waits less for it to start
    import argparse

    from .worker import serve

    p = argparse.ArgumentParser(prog="python -m lakd worker", allow_abbrev=False)
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--parallel", type=int, default=None, help="runs at once (default: 1 on CPU, 2 on GPU)")
    p.add_argument("--idle-exit", type=float, default=120.0, help="seconds with nothing queued before it exits")
    a = p.parse_args(sys.argv[2:])
    print(f"worker done: {serve(a.runs_dir, parallel=a.parallel, idle_exit_s=a.idle_exit)} run(s) started")
    sys.exit(0)

from .cli import main  # noqa: E402

sys.exit(main())
