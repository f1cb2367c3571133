"""How a student is cut into LAKD's local modules, always at block boundaries.

Specs: "stage" (one module per stage, the default), "block" (one module per block;
the stem joins the first), or a number N ("2", "4", ...): N modules, made by merging
whole stages when N is at most the number of stages, else by splitting at block
boundaries as evenly as possible.
"""
from __future__ import annotations

from .models import StagedNet


class PartitionError(ValueError):
    pass


def _even_groups(items: list, n: int) -> list[list]:
    """Split a list into n consecutive, non-empty groups of near-equal size."""
    size, extra = divmod(len(items), n)
    groups, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        groups.append(items[start:end])
        start = end
    return groups


def plan_partition(model: StagedNet, spec: str | int = "stage") -> list[tuple[int, int]]:
    """Modules as (first block, last block) index pairs covering every block in order."""
    n_blocks = len(model.blocks)
    spec = str(spec).strip().lower()
    if spec == "stage":
        bounds = list(model.stage_ends)
    elif spec == "block":
        bounds = list(range(1, n_blocks)) if n_blocks > 1 else [0]
    elif spec.isdigit() and int(spec) >= 1:
        n = int(spec)
        max_modules = max(n_blocks - 1, 1)  # the stem never stands alone
        if n > max_modules:
            raise PartitionError(f"partition {n} does not fit {model.arch}: it has {n_blocks} blocks, so at most "
                                 f"{max_modules} modules (or use 'stage' / 'block')")
        if n <= model.num_stages:
            bounds = [group[-1] for group in _even_groups(list(model.stage_ends), n)]
        else:
            bounds = [group[-1] for group in _even_groups(list(range(1, n_blocks)), n)]
    else:
        raise PartitionError(f"partition {spec!r} is not valid: use 'stage', 'block' or a number of modules "
                             f"(1 to {max(n_blocks - 1, 1)} for {model.arch})")
    starts = [0] + [b + 1 for b in bounds[:-1]]
    return list(zip(starts, bounds))


def describe_partition(model: StagedNet, spec: str | int = "stage") -> list[dict]:
    """Per block: its index, type, stage and module; for the app's diagram."""
    modules = plan_partition(model, spec)
    rows = []
    for m, (first, last) in enumerate(modules):
        for i in range(first, last + 1):
            rows.append({"block": i, "type": type(model.blocks[i]).__name__, "stage": model.block_stage(i),
                         "module": m, "cut_after": i == last and m < len(modules) - 1})
    return rows
