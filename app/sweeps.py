"""Small grid sweeps for the Explore page: one short run per point of a grid over
one or two settings. A sweep is a record in <runs dir>/sweeps/<id>.json naming its
axes and the run of each point; the runs themselves are ordinary runs."""
from __future__ import annotations

import dataclasses
import itertools
import json
import secrets
import time
from pathlib import Path

from lakd.config import RunConfig
from lakd.methods import get_method
from lakd.runs import atomic_write_json

SWEEPS = "sweeps"
MAX_POINTS = 12
# run settings (not method settings) that make sense to sweep on short runs
RUN_AXES = {"lr": float, "batch_size": int, "weight_decay": float, "student": str}


def axis_kinds(method: str) -> dict[str, type]:
    """{setting name: value type} a sweep over `method` can vary."""
    kinds: dict[str, type] = {}
    for f in dataclasses.fields(get_method(method).Params):
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(default, bool):
            kinds[f.name] = bool
        elif isinstance(default, (int, float, str)):
            kinds[f.name] = type(default)
    kinds.update(RUN_AXES)
    return kinds


def method_defaults(method: str) -> dict:
    return {f.name: f.default for f in dataclasses.fields(get_method(method).Params)
            if f.default is not dataclasses.MISSING}


def parse_values(text: str, kind: type) -> list:
    """'0.5, 1, 2' -> [0.5, 1.0, 2.0] for a float setting; raises ValueError naming the bad item."""
    items = [p.strip() for p in text.split(",") if p.strip()]
    if not items:
        raise ValueError("give at least one value, separated by commas")
    out = []
    for item in items:
        try:
            if kind is bool:
                if item.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                out.append(item.lower() in ("true", "1", "yes"))
            elif kind is int:
                out.append(int(item))
            elif kind is float:
                out.append(float(item))
            else:
                out.append(item)
        except ValueError:
            raise ValueError(f"{item!r} is not a valid {kind.__name__}") from None
    if len(set(out)) != len(out):
        raise ValueError("a value is listed twice")
    return out


def grid(axes: list[tuple[str, list]]) -> list[dict]:
    """Every combination of the axes' values, as {setting: value} dicts."""
    names = [name for name, _ in axes]
    return [dict(zip(names, combo)) for combo in itertools.product(*(values for _, values in axes))]


def point_config(base: RunConfig, point: dict) -> RunConfig:
    """`base` with a grid point's values applied (run settings or method settings)."""
    run_fields = {f.name for f in dataclasses.fields(RunConfig)}
    changes = {k: v for k, v in point.items() if k in RUN_AXES and k in run_fields}
    params = {**base.method_params, **{k: v for k, v in point.items() if k not in changes}}
    label = ",".join(f"{k}={v}" for k, v in point.items())
    return dataclasses.replace(base, **changes, method_params=params, name=f"{base.name or 'sweep'} {label}")


def new_sweep_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def save_sweep(runs_dir: Path, record: dict) -> Path:
    path = Path(runs_dir) / SWEEPS / f"{record['id']}.json"
    atomic_write_json(path, record)
    return path


def load_sweeps(runs_dir: Path) -> list[dict]:
    """Sweep records, newest first; unreadable files are skipped."""
    folder = Path(runs_dir) / SWEEPS
    out = []
    for path in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return out
