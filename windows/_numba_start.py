"""Start Numba's CPU target without importing SciPy.

Numba initialises its CPU target (registering its NumPy implementations) the first time a
compiled function is loaded or compiled. One of those modules, ``numba.np.arraymath``, asks at
import time whether a BLAS is available by importing ``scipy.linalg.cython_blas`` when SciPy
is installed; that import (SciPy plus ``numpy.f2py``) costs about 0.3 s of every start of a
``cep`` process, and nothing in this project uses it.

:func:`init_cpu_target` initialises the target with SciPy hidden, then un-hides it. The only
effect is on the answer of that one check: in this process, jitted ``np.correlate`` and
``np.convolve`` use Numba's plain loop instead of a BLAS dot product (same results up to
floating-point summation order). ``np.dot``, ``@`` and ``np.linalg`` still work with BLAS:
Numba imports SciPy for them when it compiles them. Set ``CEPKIT_NUMBA_SCIPY=1`` to keep
Numba's normal start-up, or import ``scipy.linalg`` before the first kernel (then nothing is
hidden).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["init_cpu_target"]


class _HideSciPy:
    """A meta-path finder that makes ``import scipy.linalg`` fail while it is installed
    (``import numba`` itself imports the top-level ``scipy`` package, which is cheap)."""

    @staticmethod
    def find_spec(name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name == "scipy.linalg" or name.startswith("scipy.linalg."):
            raise ModuleNotFoundError(f"hidden during Numba start-up: {name}", name=name)
        return None


def init_cpu_target() -> None:
    """Initialise Numba's CPU target, hiding ``scipy.linalg`` unless it is imported already
    or ``CEPKIT_NUMBA_SCIPY`` is set. :mod:`windows._jit` calls it once, unless the JIT is
    disabled."""
    from numba.core.registry import cpu_target

    hide = "scipy.linalg" not in sys.modules and os.environ.get("CEPKIT_NUMBA_SCIPY", "0") in (
        "", "0")
    if hide:
        sys.meta_path.insert(0, _HideSciPy)
    try:
        cpu_target.target_context.refresh()
    finally:
        if hide:
            sys.meta_path.remove(_HideSciPy)
