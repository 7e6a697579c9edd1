"""Numba compilation helpers and the registry of kernels with their pure-Python twins.

Every kernel in the project is written once as a plain Python function over NumPy arrays (the
*twin*) and compiled with :func:`kernel`. The registry lets the parity tests run both and lets
a test check that the compiled path really compiled (``NUMBA_DISABLE_JIT=1`` turns it off).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numba

from windows._numba_start import init_cpu_target

__all__ = ["KERNELS", "jit_disabled", "kernel"]

F = TypeVar("F", bound=Callable[..., Any])

#: name -> (compiled dispatcher, pure-Python twin)
KERNELS: dict[str, tuple[Any, Callable[..., Any]]] = {}

_PACKAGES = ("windows", "cep")


#: (package, file) of the modules without kernels whose constants kernels freeze
_CONSTANT_SOURCES = frozenset({("windows", "_jit.py"), ("windows", "time.py"),
                               ("windows", "_window_layout.py"), ("cep", "_nfa_layout.py"),
                               ("windows", "_prefetch.py")})


def _feeds_kernels(path: Path) -> bool:
    """True for a module compiled code depends on: one that defines kernels (and so may be
    inlined into kernels of other modules), this module, and ``windows/time.py``,
    ``windows/_window_layout.py`` and ``cep/_nfa_layout.py`` whose constants kernels freeze at
    compile time. Editing any other module (operators, the SQL front end, ...) keeps the
    cache."""
    if (path.parent.name, path.name) in _CONSTANT_SOURCES:
        return True
    try:
        return "from windows._jit import kernel" in path.read_text(encoding="utf-8")
    except OSError:
        return True


def _invalidate_stale_caches() -> None:
    """Delete Numba cache files written for other kernel sources.

    Numba keys a cached function on its own file only, but kernels inline helpers from other
    modules; after any kernel source changes, every cached kernel of these packages may be
    stale. A stamp named after a digest of the kernel sources (see :func:`_feeds_kernels`)
    marks a consistent cache.
    """
    root = Path(__file__).resolve().parent.parent
    files = sorted(p for pkg in _PACKAGES for p in (root / pkg).glob("*.py") if _feeds_kernels(p))
    digest = hashlib.sha256()
    for p in files:
        digest.update(p.name.encode())
        digest.update(p.read_bytes())
    tag = digest.hexdigest()[:16]
    dirs = [root / pkg / "__pycache__" for pkg in _PACKAGES]
    env_dir = os.environ.get("NUMBA_CACHE_DIR")
    if env_dir:
        dirs.append(Path(env_dir))
    for d in dirs:
        stamp = d / f"cepkit-kernels-{tag}.stamp"
        try:
            if stamp.exists() or not d.is_dir():
                continue
            for pat in ("*.nbi", "*.nbc"):
                for f in (d.rglob(pat) if d.name != "__pycache__" else d.glob(pat)):
                    if d.name == "__pycache__" or any(f"{os.sep}{pkg}{os.sep}" in str(f)
                                                      for pkg in _PACKAGES):
                        f.unlink(missing_ok=True)
            for old in d.glob("cepkit-kernels-*.stamp"):
                old.unlink(missing_ok=True)
            stamp.touch()
        except OSError:  # read-only install: Numba then cannot cache either
            continue


_invalidate_stale_caches()


def jit_disabled() -> bool:
    """True when ``NUMBA_DISABLE_JIT`` is set to a true value (the pure-Python leg of CI)."""
    return os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")


if not jit_disabled():
    init_cpu_target()  # once per process, before the first kernel loads


def kernel(func: F | None = None, *, inline: bool = False) -> Any:
    """Compile ``func`` in nopython mode with an on-disk cache and register its twin.

    The returned object is the Numba dispatcher; ``func`` itself stays reachable as
    ``KERNELS[name][1]`` (and as the dispatcher's ``py_func``). ``inline=True`` inlines the
    function into compiled callers at the Numba IR level (for small hot helpers: it removes
    call and array reference-counting overhead).
    """

    def wrap(f: F) -> F:
        # No reference counting: kernels only read and write arrays they are given (they never
        # allocate), and NRT's atomic increments on every call with array arguments cost
        # more than the work of the hot loops.
        opts: dict[str, Any] = {"cache": True, "nogil": True, "_nrt": False}
        if inline:
            opts["inline"] = "always"
        compiled = numba.njit(**opts)(f)
        KERNELS[f"{f.__module__}.{f.__qualname__}"] = (compiled, f)
        return compiled

    if func is not None:
        return wrap(func)
    return wrap
