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


def kernel(func: F) -> F:
    """Compile ``func`` in nopython mode with an on-disk cache and register its twin.

    The returned object is the Numba dispatcher; ``func`` itself stays reachable as
    ``KERNELS[name][1]`` (and as the dispatcher's ``py_func``).
    """
    compiled = numba.njit(cache=True, nogil=True)(func)
    KERNELS[f"{func.__module__}.{func.__qualname__}"] = (compiled, func)
    return compiled  # type: ignore[no-any-return]
