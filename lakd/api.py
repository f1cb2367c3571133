"""The engine's front door, for the CLI, the app and notebooks alike."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import distributed
from .config import RunConfig
from .data import DataBundle
from .runs import Run, RunStore
from .trainer import Trainer


def create_run(cfg: RunConfig, runs_dir: str | Path | None = None) -> Run:
    """Validate the settings and record a queued run; nothing trains yet."""
    cfg.validate()
    label = cfg.name or f"{cfg.method}-{cfg.student}"
    return RunStore(runs_dir).create(cfg.to_dict(), label)


def execute(run: Run, *, resume: bool = False, data: DataBundle | None = None,
            progress: Callable[[dict], None] | None = None) -> list[dict]:
    """Train a recorded run (from its last checkpoint when `resume`); returns the metric rows."""
    cfg = RunConfig.from_dict(run.config())
    try:
        trainer = Trainer(cfg, run, data=data, progress=progress, runs_root=run.path.parent)
    except Exception as e:
        if distributed.context().is_main:  # under torchrun rank 0 alone writes the run store
            run.set_status("failed", message=f"{type(e).__name__}: {e}")
        raise
    return trainer.fit(resume=resume)


def train(cfg: RunConfig, runs_dir: str | Path | None = None, **kw) -> tuple[Run, list[dict]]:
    run = create_run(cfg, runs_dir)
    return run, execute(run, **kw)
