"""`python -m lakd ...`: train-teacher, distill, eval, runs.

Settings come from --config FILE.yaml, then flags (flags win). Every method setting
is a flag too (e.g. --temperature 4); a flag the chosen method does not know is refused.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

from . import api
from .checkpoint import CheckpointError
from .config import ConfigError, RunConfig, load_yaml, resolve_methods
from .data import DATASET_NAMES, DataError
from .methods import METHODS, MethodError
from .models import model_names
from .pack import PackError
from .runs import RunStore, RunStoreError
from .trainer import Diverged, StopRequested

USER_ERRORS = (ConfigError, DataError, MethodError, CheckpointError, RunStoreError, PackError)

# flags shared by train-teacher and distill: (flag, RunConfig field, type, help)
RUN_FLAGS = [
    ("--data", "data", str, f"data set: {', '.join(DATASET_NAMES)}"),
    ("--data-root", "data_root", str, "folder of the data set"),
    ("--per-class", "per_class", int, "keep the first N training images of each class"),
    ("--input-size", "input_size", int, "image size for image folders and torchvision models"),
    ("--in-channels", "in_channels", int, "1 or 3"),
    ("--epochs", "epochs", int, None),
    ("--batch-size", "batch_size", int, None),
    ("--optimizer", "optimizer", str, "sgd or adamw"),
    ("--lr", "lr", float, None),
    ("--momentum", "momentum", float, None),
    ("--weight-decay", "weight_decay", float, None),
    ("--schedule", "schedule", str, "cosine, step or constant (set per epoch)"),
    ("--gamma", "gamma", float, "step schedule's factor"),
    ("--seed", "seed", int, None),
    ("--device", "device", str, "auto, cpu, cuda, cuda:N"),
    ("--num-workers", "num_workers", int, "data loader worker processes"),
    ("--eval-every", "eval_every", int, "evaluate every N epochs (always after the last)"),
    ("--max-steps-per-epoch", "max_steps_per_epoch", int, "cut epochs short (smoke tests)"),
    ("--name", "name", str, "a label for the run id"),
    ("--teacher", "teacher", str, "'bundled', a .safetensors/.pt file, or a run id"),
    ("--teacher-arch", "teacher_arch", str, "the teacher's architecture, when its file does not say"),
    ("--teacher-pack", "teacher_pack", str, "a teacher pack folder (python -m lakd teacher-pack) instead of a live teacher"),
]
BOOL_FLAGS = [("augment", "random crop + flip"), ("deterministic", "deterministic algorithms"),
              ("download", "let torchvision download the data (online)"),
              ("channels_last", "channels-last memory format (GPU speed)"),
              ("compile", "torch.compile the models' blocks (GPU; slow first step)")]


def _method_fields() -> dict[str, type]:
    fields: dict[str, type] = {}
    for m in METHODS.values():
        for f in dataclasses.fields(m.Params):
            t = f.type if isinstance(f.type, type) else {"float": float, "int": int, "bool": bool, "str": str}.get(str(f.type), str)
            fields.setdefault(f.name, t)
    return fields


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _amp(text: str):
    if text.lower() in ("auto", "bf16", "fp16", "off"):
        return text.lower()
    return _bool(text)


def _add_run_flags(p: argparse.ArgumentParser, model_flag: str) -> None:
    S = argparse.SUPPRESS
    p.add_argument("--config", help="YAML file of settings (flags override it)")
    p.add_argument(model_flag, dest="student", default=S, help=f"architecture: {', '.join(model_names())}")
    p.add_argument("--runs-dir", default="runs", help="the run store (default: runs/)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue this run from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    for flag, dest, typ, hlp in RUN_FLAGS:
        p.add_argument(flag, dest=dest, type=typ, default=S, help=hlp)
    p.add_argument("--milestones", type=lambda s: [int(v) for v in s.split(",") if v], default=S,
                   help="step schedule's epochs, comma-separated")
    p.add_argument("--map-epochs", dest="map_epochs", type=lambda s: [int(v) for v in s.split(",") if v], default=S,
                   help="epochs whose NDAM maps are saved, comma-separated (default: every epoch)")
    for name, hlp in BOOL_FLAGS:
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=_bool, default=S, nargs="?", const=True,
                       help=f"{hlp} (true/false)")
    p.add_argument("--amp", dest="amp", type=_amp, default=S, nargs="?", const=True,
                   help="mixed precision on CUDA: auto (bf16 where supported, else fp16 with a scaler), bf16, fp16, "
                        "off (true/false also accepted)")
    group = p.add_argument_group("method settings (each method takes its own; see docs/methods.md)")
    for name, typ in _method_fields().items():
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"mp_{name}", default=S,
                           type=_bool if typ is bool else typ)


def build_config(args: argparse.Namespace, defaults: dict) -> RunConfig:
    settings = dict(defaults)
    from_file = load_yaml(args.config) if getattr(args, "config", None) else {}
    settings.update(from_file)
    given = vars(args)
    if "teacher" not in from_file and "teacher" not in given and (given.get("teacher_pack") or from_file.get("teacher_pack")):
        settings.pop("teacher", None)  # a pack replaces the default (bundled) live teacher
    method_params = dict(settings.get("method_params") or {})
    for key, value in given.items():
        if key.startswith("mp_"):
            method_params[key[3:]] = value
        elif key in {f.name for f in dataclasses.fields(RunConfig)}:
            settings[key] = value
    if method_params:
        settings["method_params"] = method_params
    if settings.get("teacher_pack"):  # so the run resumes and reports from any folder
        settings["teacher_pack"] = str(Path(settings["teacher_pack"]).resolve())
    cfg = RunConfig.from_dict(resolve_methods(settings))
    method_cls = METHODS.get(cfg.method)
    if method_cls is None:
        raise ConfigError(f"unknown method {cfg.method!r}; valid methods: {', '.join(sorted(METHODS))}")
    valid = {f.name for f in dataclasses.fields(method_cls.Params)}
    wrong = sorted(set(cfg.method_params) - valid)
    if wrong:
        raise ConfigError(f"method {cfg.method!r} has no setting(s) {', '.join(wrong)}; "
                          f"its settings: {', '.join(sorted(valid)) or 'none'}")
    return cfg.validate()


class ProgressBar:
    """A tqdm bar per epoch, fed by the trainer's progress callback."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None
        self.epoch = None

    def __call__(self, info: dict) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if info["epoch"] != self.epoch:
            self.close()
            self.epoch = info["epoch"]
            self.bar = tqdm(total=info["steps"], desc=f"epoch {info['epoch']}/{info['epochs']}", unit="batch",
                            leave=False, file=sys.stderr)
        self.bar.n = info["step"]
        self.bar.set_postfix(loss=f"{info['loss']:.3f}", img_s=f"{info['images_per_s']:.0f}")
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _print_rows(rows: list[dict]) -> None:
    for r in rows:
        losses = " ".join(f"{k[5:]}={v:.4f}" for k, v in r.items() if k.startswith("loss_"))
        test = f"{100 * r['test_acc']:.2f}%" if "test_acc" in r else "-"
        print(f"epoch {r['epoch']:3d}  lr {r['lr']:.4f}  {losses}  train {100 * r['train_acc']:.2f}%  "
              f"test {test}  {r['seconds']:.1f}s  {r['images_per_s']:.0f} img/s", flush=True)


def cmd_train(args: argparse.Namespace, defaults: dict) -> int:
    """One process, or one of N under torchrun: then rank 0 creates the run and tells the
    others its id; all of them train it (see lakd/distributed.py)."""
    from . import distributed

    store = RunStore(args.runs_dir)
    if args.resume:
        run = store.get(args.resume)
        ctx = distributed.setup(RunConfig.from_dict(run.config()).device)
    else:
        cfg = build_config(args, defaults)
        ctx = distributed.setup(cfg.device)
        run_id = api.create_run(cfg, args.runs_dir).id if ctx.is_main else None
        run = store.get(distributed.broadcast_object(run_id, ctx))
    say = print if ctx.is_main else (lambda *a, **k: None)
    bar = ProgressBar(ctx.is_main and not args.no_progress and sys.stderr.isatty())
    if ctx.enabled:
        say(f"torchrun: {ctx.world_size} processes ({ctx.backend}); rank 0 writes the run store", flush=True)
    if args.resume:
        say(f"resuming {run.id} after epoch {len(run.metrics())}", flush=True)
        rows = api.execute(run, resume=True, progress=bar)
    else:
        say(f"run {run.id} -> {run.path}", flush=True)
        try:
            rows = api.execute(run, progress=bar)
        except USER_ERRORS:
            if ctx.is_main and not run.metrics():  # refused before any training: leave no empty run behind
                shutil.rmtree(run.path, ignore_errors=True)
            raise
    bar.close()
    if not ctx.is_main:
        return 0
    _print_rows(rows)
    print(f"final test accuracy {100 * rows[-1]['test_acc']:.2f}%  (student weights: {run.student_checkpoint})")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from torch.utils.data import DataLoader

    from .checkpoint import load_model
    from .data import load_data
    from .trainer import evaluate, pick_device

    if args.run:
        run = RunStore(args.runs_dir).get(args.run)
        cfg = RunConfig.from_dict(run.config())
        path = run.student_checkpoint
        data_name, root = args.data or cfg.data, args.data_root or cfg.data_root
        size, chans = cfg.input_size, cfg.in_channels
    elif args.checkpoint:
        path, data_name, root, size, chans = Path(args.checkpoint), args.data or "sample", args.data_root, args.input_size, args.in_channels
    else:
        raise ConfigError("eval needs --run RUN_ID or --checkpoint FILE")
    data = load_data(data_name, root, input_size=size, in_channels=chans)
    model = load_model(path, arch=args.arch, num_classes=data.num_classes, in_channels=data.in_channels,
                       input_size=data.input_size)
    device = pick_device(args.device)
    acc = evaluate(model.to(device), DataLoader(data.test, batch_size=256), device)
    result = {"checkpoint": str(path), "arch": model.arch, "data": data_name, "test_images": len(data.test),
              "test_acc": acc, "parameters": sum(p.numel() for p in model.parameters())}
    print(json.dumps(result, indent=2))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    runs = RunStore(args.runs_dir).list()
    if not runs:
        print(f"no runs in {Path(args.runs_dir).resolve()}")
        return 0
    print(f"{'run id':50s} {'status':12s} {'method':8s} {'student':12s} {'epoch':>7s} {'test acc':>9s}")
    for run in runs:
        st, cfg, rows = run.status(), run.config(), run.metrics()
        accs = [r["test_acc"] for r in rows if "test_acc" in r]
        acc = f"{100 * accs[-1]:.2f}%" if accs else "-"
        print(f"{run.id:50s} {st['status']:12s} {cfg.get('method', '?'):8s} {cfg.get('student', '?'):12s} "
              f"{len(rows):>3d}/{cfg.get('epochs', '?'):<3} {acc:>9s}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    """Execute one recorded run (queued, or to resume); used by the background worker."""
    import signal

    def on_term(signum, frame):  # app shut down: save what is done and mark the run stopped
        raise KeyboardInterrupt

    run = RunStore(args.runs_dir).get(args.run_id)
    signal.signal(signal.SIGTERM, on_term)
    resume = bool(run.status().get("resume")) or run.training_state() is not None
    rows = api.execute(run, resume=resume)
    _print_rows(rows)
    return 0


def cmd_teacher_pack(args: argparse.Namespace) -> int:
    """Run a teacher once over a data set and write its logits and maps (see lakd/pack.py)."""
    from .pack import make_pack, teacher_identity
    from .trainer import load_data_for, pick_device, resolve_teacher, teacher_file

    cfg = RunConfig(teacher=args.teacher, teacher_arch=args.teacher_arch, data=args.data, data_root=args.data_root,
                    per_class=args.per_class, input_size=args.input_size, in_channels=args.in_channels).validate()
    data = load_data_for(cfg)
    teacher = resolve_teacher(cfg, data, Path(args.runs_dir))
    bar = ProgressBar(not args.no_progress and sys.stderr.isatty())

    def progress(done: int, total: int) -> None:
        bar({"epoch": 1, "epochs": 1, "step": done, "steps": total, "loss": 0.0, "images_per_s": 0.0})

    path = make_pack(teacher, data, args.out, map_p=args.map_p, features=args.features, dtype=args.dtype,
                     batch_size=args.batch_size, device=pick_device(args.device), overwrite=args.overwrite,
                     teacher_info=teacher_identity(args.teacher, teacher_file(args.teacher, args.runs_dir)),
                     progress=progress)
    bar.close()
    from .pack import TeacherPack
    size = TeacherPack(path).size_report()
    print(f"teacher pack {path}: {size['images']} images, {size['pack_per_image']} bytes/image "
          f"(logits {size['logits']} + maps {size['maps']}"
          + (f" + features {size['raw_features']}" if args.features else "")
          + f"; logits + raw features would take {size['logits_and_features_per_image']}), "
          f"{size['on_disk_bytes'] / 2**20:.1f} MiB on disk")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lakd", description="LAKD Studio's distillation engine", allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train-teacher", allow_abbrev=False, help="train a model on labels alone (a teacher)")
    _add_run_flags(t, "--arch")
    d = sub.add_parser("distill", allow_abbrev=False, help="distill a teacher into a student")
    _add_run_flags(d, "--student")
    d.add_argument("--method", dest="method", default=argparse.SUPPRESS, help=f"one of {', '.join(sorted(METHODS))}")
    e = sub.add_parser("eval", allow_abbrev=False, help="test accuracy of a run's student or of a checkpoint")
    e.add_argument("--run", help="run id")
    e.add_argument("--checkpoint", help="a .safetensors or weights-only .pt file")
    e.add_argument("--arch", help="architecture, when the checkpoint does not say")
    e.add_argument("--data", choices=DATASET_NAMES)
    e.add_argument("--data-root")
    e.add_argument("--input-size", type=int, default=32)
    e.add_argument("--in-channels", type=int, default=3)
    e.add_argument("--device", default="auto")
    e.add_argument("--runs-dir", default="runs")
    r = sub.add_parser("runs", allow_abbrev=False, help="list runs with their status")
    r.add_argument("--runs-dir", default="runs")
    s = sub.add_parser("start", allow_abbrev=False, help="execute a recorded (queued) run; the app's worker uses this")
    s.add_argument("run_id")
    s.add_argument("--runs-dir", default="runs")
    k = sub.add_parser("teacher-pack", allow_abbrev=False,
                       help="run a teacher once over a data set and save its logits and maps (distill --teacher-pack)")
    k.add_argument("--teacher", default="bundled", help="'bundled', a .safetensors/.pt file, or a run id")
    k.add_argument("--teacher-arch", help="the teacher's architecture, when its file does not say")
    k.add_argument("--data", default="sample", choices=DATASET_NAMES)
    k.add_argument("--data-root")
    k.add_argument("--per-class", type=int, help="keep the first N training images of each class")
    k.add_argument("--input-size", type=int, default=32)
    k.add_argument("--in-channels", type=int, default=3)
    k.add_argument("--out", required=True, help="the pack folder to write")
    k.add_argument("--features", action="store_true", help="also store raw stage features (for LAKD's hybrid "
                   "term, AT and FitNet; much larger)")
    k.add_argument("--map-p", type=float, default=2.0, help="exponent of the maps (LAKD's p)")
    k.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    k.add_argument("--batch-size", type=int, default=256)
    k.add_argument("--device", default="auto")
    k.add_argument("--runs-dir", default="runs")
    k.add_argument("--overwrite", action="store_true")
    k.add_argument("--no-progress", action="store_true")
    sub.add_parser("worker", add_help=False, help="run queued runs in the background until none is left "
                   "(see python -m lakd worker --help)")
    return parser


TEACHER_DEFAULTS = {"method": "vanilla", "student": "resnet20", "augment": True, "lr": 0.1, "batch_size": 128}
DISTILL_DEFAULTS = {"method": "kd", "student": "resnet8", "teacher": "bundled"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # benchmarks have their own parser (lakd/bench.py)
        from .bench import main as bench_main
        return bench_main(argv[1:])
    if argv[:1] == ["worker"]:  # so is the background worker (lakd/worker.py)
        from .worker import main as worker_main
        return worker_main(argv[1:])
    args = make_parser().parse_args(argv)
    try:
        if args.command == "train-teacher":
            return cmd_train(args, TEACHER_DEFAULTS)
        if args.command == "distill":
            return cmd_train(args, DISTILL_DEFAULTS)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "runs":
            return cmd_runs(args)
        if args.command == "start":
            return cmd_start(args)
        if args.command == "teacher-pack":
            return cmd_teacher_pack(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Diverged as e:
        print(f"error: the run diverged: {e}; its last good checkpoint is kept (try a lower --lr)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped; continue with --resume", file=sys.stderr)
        return 130
    except StopRequested:  # the run's stop file (the app's Stop button): a clean end, also under torchrun
        print("stopped on request; continue with --resume", file=sys.stderr)
        return 0
    return 1
