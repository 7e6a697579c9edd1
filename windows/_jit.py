"""Numba compilation helpers and the registry of kernels with their pure-Python twins.

Every kernel in the project is written once as a plain Python function over NumPy arrays (the
*twin*) and compiled with :func:`kernel`. The registry lets the parity tests run both and lets
a test check that the compiled path really compiled (``NUMBA_DISABLE_JIT=1`` turns it off).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import numba

__all__ = ["KERNELS", "jit_disabled", "kernel"]

F = TypeVar("F", bound=Callable[..., Any])

#: name -> (compiled dispatcher, pure-Python twin)
KERNELS: dict[str, tuple[Any, Callable[..., Any]]] = {}


def jit_disabled() -> bool:
    """True when ``NUMBA_DISABLE_JIT`` is set to a true value (the pure-Python leg of CI)."""
    return os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")


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
