"""A compiler-cache wrapper for Verilator's runtime library (``make OBJCACHE=...``).

Every Verilator build compiles the same runtime sources from
``$VERILATOR_ROOT/include`` (``verilated.cpp``, ``verilated_vpi.cpp``,
``verilated_threads.cpp``, ...): about 15 s of compiling at ``-O3`` per
build on a small machine, for objects that depend only on the compiler,
its flags and the Verilator version.  Verilator's makefiles prefix every
compile with ``$(OBJCACHE)`` (meant for ccache); :func:`sim.toolchain.verilator_env`
points it at :func:`wrapper`, a script that runs this file.

For a compile of one of those runtime sources the object is looked up by a
hash of the compiler's version, the command line (minus the output name and
the build directory's own include path) and the source's contents, and
copied from ``build/sim/objcache/`` when present; anything else is passed
to the compiler untouched.  Standard library only: it runs as a script.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Environment variable naming the cache directory (set by :func:`wrapper`).
CACHE_ENV = "ROIPOOL_OBJCACHE_DIR"


def wrapper(build_root: Path) -> Path | None:
    """Write (once) and return the executable wrapper script, or None where it cannot work.

    ``OBJCACHE`` is spliced into make recipes as text, so the path must not
    contain blanks or shell metacharacters.
    """
    script = Path(build_root) / "objcache" / "objcache.sh"
    text = (f"#!/bin/sh\n{CACHE_ENV}='{script.parent}' exec '{sys.executable}' '{Path(__file__).resolve()}' \"$@\"\n")
    if any(c in str(script) + sys.executable for c in " \t'\"$`\\;&|<>()"):
        return None
    if not script.exists() or script.read_text() != text:
        script.parent.mkdir(parents=True, exist_ok=True)
        tmp = script.with_suffix(f".{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(script)
    return script


def _runtime_source(argv: list[str]) -> Path | None:
    """The runtime source being compiled (``-c file`` under $VERILATOR_ROOT/include), if any."""
    root = os.environ.get("VERILATOR_ROOT")
    if not root or "-c" not in argv:
        return None
    include = Path(root, "include").resolve()
    sources = [Path(a) for a in argv[1:] if a.endswith((".cpp", ".cc")) and not a.startswith("-")]
    if len(sources) != 1:
        return None
    src = sources[0].resolve()
    return src if include in src.parents else None


def _output(argv: list[str], src: Path) -> tuple[Path, list[str]]:
    """The object file written and the command line without it."""
    rest, out = [], None
    it = iter(range(len(argv)))
    for i in it:
        if argv[i] == "-o" and i + 1 < len(argv):
            out = argv[i + 1]
            next(it)
        else:
            rest.append(argv[i])
    return Path(out) if out else Path(src.stem + ".o"), rest


def _key(cmd: list[str], src: Path) -> str:
    root = Path(os.environ["VERILATOR_ROOT"]).resolve()
    # Include paths outside Verilator hold only design headers (Vtop.h, the
    # harness configuration), which the runtime sources never include: leave
    # them out of the key, or no two builds would share an object.
    words = [a for a in cmd if not a.startswith("-MMD")
             and not (a.startswith("-I") and root not in Path(a[2:]).resolve().parents)]
    version = subprocess.run([cmd[0], "--version"], capture_output=True, text=True).stdout
    h = hashlib.sha256()
    for part in (version, "\0".join(words), src.read_bytes()):
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x01")
    return h.hexdigest()[:32]


def main(argv: list[str]) -> int:
    src = _runtime_source(argv)
    cache = os.environ.get(CACHE_ENV)
    if src is None or not cache:
        return subprocess.run(argv).returncode
    out, cmd = _output(argv, src)
    stored = Path(cache) / f"{src.stem}-{_key(cmd, src)}.o"
    if stored.exists():
        shutil.copyfile(stored, out)
        return 0
    rc = subprocess.run(argv).returncode
    if rc == 0 and out.exists():
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".tmp")
        os.close(fd)
        shutil.copyfile(out, tmp)
        os.replace(tmp, stored)          # atomic: concurrent builds race harmlessly
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
