"""Content hash of the gateware sources: tells when a measurement is stale.

Figures measured on generated Verilog (ECP5 utilisation and fmax in
``reports/data/fpga-default.json``, RTL cycle counts) are only valid for the
sources they were measured on.  They record :func:`source_hash` of ``hdl/``;
a reader recomputes it and compares::

    from hdl.fingerprint import source_hash
    stale = record["hdl_sha256"] != source_hash()

The hash covers every ``*.py`` file under the package (path relative to the
package and content), so a change to any of them -- even one that does not
change the netlist -- marks the figures stale: a false alarm costs a re-run,
a missed change would cost a wrong figure.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["source_hash"]

PACKAGE_DIR = Path(__file__).resolve().parent


def source_hash(root: str | Path | None = None, suffixes: tuple[str, ...] = (".py",)) -> str:
    """SHA-256 over the relative paths and contents of the source files of a tree.

    Parameters
    ----------
    root : path-like, optional
        Directory to hash; default: this package (``hdl/``).
    suffixes : tuple of str
        File name endings that count as sources.  ``__pycache__`` and hidden
        directories are ignored.

    Returns
    -------
    str
        64 hex digits; the same for the same files on any machine.
    """
    root = Path(root) if root is not None else PACKAGE_DIR
    if not root.is_dir():
        raise FileNotFoundError(f"not a directory: {root}")
    h = hashlib.sha256()
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.name.endswith(suffixes)
        and not any(part == "__pycache__" or part.startswith(".") for part in p.relative_to(root).parts)
    )
    for p in files:
        rel = p.relative_to(root).as_posix().encode()
        data = p.read_bytes()
        # Length-prefixed so that no two different trees give the same stream.
        h.update(len(rel).to_bytes(8, "little") + rel + len(data).to_bytes(8, "little") + data)
    return h.hexdigest()
