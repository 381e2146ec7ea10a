"""A small JSON cache for report figures that are slow to measure.

Each entry is ``build/reports/cache/<kind>/<key[:24]>.json``; the key is a
hash of everything the figure depends on (sources, tool versions, machine),
so a stale entry is never served: it is simply not found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import fpga
from .provenance import REPO_ROOT, digest

CACHE_DIR = REPO_ROOT / "build" / "reports" / "cache"


def cached(kind: str, key: dict, compute: Callable[[], dict], *, refresh: bool = False,
           root: Path = CACHE_DIR) -> tuple[dict, bool]:
    """``(value, hit)``: the stored value for ``key``, or ``compute()`` stored now.

    ``refresh=True`` recomputes and overwrites.  ``compute`` must return a
    JSON-able dict.
    """
    path = Path(root) / kind / f"{digest(key)[:24]}.json"
    if not refresh:
        value = fpga._read_json(path)
        if value is not None:
            return value, True
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fpga._write_json(path, value)
    return value, False
