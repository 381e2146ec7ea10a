"""Provenance of report figures: measured or modelled, where, when, which commit.

Every figure of the report carries a record made by :func:`stamp`::

    {"kind": "measured", "where": "nextpnr-0.11.1 ... on host (x86_64, 2 cores)",
     "when": "2026-11-24T10:00:00+00:00", "commit": "0123abc...", "dirty": False,
     "commit_text": "0123abc", ...}

``kind`` is one of :data:`KINDS`: ``measured`` (a tool, a simulator or a
timer produced it), ``modelled`` (the analytical cycle model), ``derived``
(arithmetic on figures that carry their own records, e.g. cycles / fmax).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

KINDS = ("measured", "modelled", "derived")

#: Keys every provenance record has.
REQUIRED_KEYS = ("kind", "where", "when", "commit", "dirty", "commit_text")


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30, cwd=REPO_ROOT)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def git_state() -> dict:
    """``{"commit", "dirty", "commit_text"}`` of the working tree, read once per process.

    ``commit_text`` is the short hash, followed by ``(uncommitted changes)``
    when tracked or untracked-but-not-ignored files differ from it; figures
    then belong to a tree that no commit names.
    """
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain")
    dirty = None if status is None else bool(status)
    if commit is None:
        text = "unknown (not a git checkout)"
    else:
        text = commit[:12] + (" (uncommitted changes)" if dirty else "")
    return {"commit": commit, "dirty": dirty, "commit_text": text}


def repo_relative(path: str | os.PathLike) -> str:
    """``path`` relative to the repository when it lies inside it (how files are named in data), else as given."""
    path = Path(path)
    return str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)


@functools.lru_cache(maxsize=1)
def machine() -> str:
    """``host (arch, N cores, CPU model)`` of this machine."""
    model = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        model = platform.processor() or None
    return f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores" + (f", {model})" if model else ")")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def file_date(path: str | os.PathLike) -> str:
    """Modification time of ``path`` as a UTC ISO date: when a cached result was produced."""
    return datetime.fromtimestamp(Path(path).stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


def package_versions(*dists: str) -> dict[str, str | None]:
    """Installed versions of distributions (``None`` where absent)."""
    out = {}
    for d in dists:
        try:
            out[d] = metadata.version(d)
        except metadata.PackageNotFoundError:
            out[d] = None
    return out


def stamp(kind: str, where: str, *, when: str | None = None, commit: str | None = None,
          dirty: bool | None = None, **extra) -> dict:
    """A provenance record.

    Parameters
    ----------
    kind : {"measured", "modelled", "derived"}
    where : str
        Machine, simulator or tool (with versions) that produced the figure.
    when : str, optional
        UTC ISO date; default now.
    commit, dirty : optional
        The commit the figure belongs to; default this working tree's.  Pass
        them for figures read from a file that records its own.
    **extra
        More fields (``tools``, ``source``, ``cached``, ``notes``...).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if commit is None and dirty is None:
        state = git_state()
    else:
        text = "unknown" if commit is None else commit[:12] + (" (uncommitted changes)" if dirty else "")
        state = {"commit": commit, "dirty": dirty, "commit_text": text}
    return {"kind": kind, "where": where, "when": when or utc_now(), **state, **extra}


def short(p: dict) -> str:
    """One line for a table cell or a plot footer: ``measured, <where>, <date>, <commit>``."""
    return f"{p['kind']}: {p['where']}; {p['when'][:10]}; commit {p['commit_text']}"


def digest(obj) -> str:
    """SHA-256 of a JSON-able object (cache keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
