"""Numba start-up without ``scipy.linalg`` (``windows._numba_start``), checked in fresh
interpreters: the hidden import really is skipped, can be turned off, and BLAS-backed
functions still compile and give right answers afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
import numpy as np
import windows._jit  # initialises Numba's CPU target
import windows._numba_start
import numba
import numba.np.arraymath as am
hidden = 'scipy.linalg' not in sys.modules
blas_flag = am._HAVE_BLAS

@numba.njit
def dot(a, b):
    return np.dot(a, b)

@numba.njit
def conv(a, b):
    return np.convolve(a, b)

a = np.arange(1.0, 5.0)
b = np.array([0.5, -1.0, 2.0, 4.0])
print(json.dumps({
    "hidden_at_start": hidden,
    "blas_flag": bool(blas_flag),
    "dot": float(dot(a, b)),
    "dot_ref": float(a @ b),
    "conv": conv(a, b).tolist(),
    "conv_ref": np.convolve(a, b).tolist(),
    "meta_path_clean": windows._numba_start._HideSciPy not in sys.meta_path,
}))
"""


def _probe(**env: str) -> dict[str, object]:
    e = {k: v for k, v in os.environ.items() if k not in ("NUMBA_DISABLE_JIT",
                                                          "CEPKIT_NUMBA_SCIPY")}
    e.update(env)
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                         env=e, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_cpu_target_starts_without_scipy_linalg_and_blas_still_works() -> None:
    r = _probe()
    assert r["hidden_at_start"] is True
    assert r["blas_flag"] is False
    assert r["meta_path_clean"] is True
    assert r["dot"] == pytest.approx(r["dot_ref"])  # np.dot imports SciPy when compiled
    assert r["conv"] == pytest.approx(r["conv_ref"])  # the plain-loop correlate


def test_opt_out_keeps_numbas_normal_start() -> None:
    r = _probe(CEPKIT_NUMBA_SCIPY="1")
    assert r["hidden_at_start"] is False
    assert r["blas_flag"] is True
    assert r["dot"] == pytest.approx(r["dot_ref"])
