"""A software prefetch hint for compiled kernels (no effect on results).

The window kernels touch one per-key row and one accumulator row per record, at keys in no
particular order; with thousands of keys these rows live in the last-level cache or memory,
and each record waits for them. Kernels that know a later record's key ask for its rows in
advance with :func:`prefetch`, so the wait overlaps the work on the records before it.

Compiled, :func:`prefetch` is LLVM's ``llvm.prefetch`` intrinsic (a read hint, kept in all
cache levels): it never faults, returns nothing and changes no value. Its pure-Python twin
(used when ``NUMBA_DISABLE_JIT`` is set) does nothing.
"""

from __future__ import annotations

from typing import Any

from windows._jit import jit_disabled

__all__ = ["PREFETCH_MIN_BYTES", "prefetch"]

#: Kernels issue hints only when the rows they would warm (per-key rows, live window rows)
#: take at least this many bytes; below it they mostly stay in the core's caches, where the
#: hints only cost time.
PREFETCH_MIN_BYTES = 1 << 20


def prefetch(arr: Any, row: int, col: int) -> None:
    """Hint that ``arr[row, col]`` of a 2-D array will be read soon.

    Parameters
    ----------
    arr : numpy.ndarray, 2-D
        Any dtype and layout.
    row, col : int
        Element position. Kernels pass positions inside the array; a hint outside it never
        faults either.

    Returns
    -------
    None
        No value changes; compiled, only the cache is warmed. Called from Python (the
        pure-Python twins, ``NUMBA_DISABLE_JIT=1``) it does nothing.
    """
    return None


def _register_overload() -> None:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic, overload

    @intrinsic
    def _llvm_prefetch(typingctx: Any, arr: Any, row: Any, col: Any) -> Any:
        if not (
            isinstance(arr, types.Array)
            and arr.ndim == 2
            and isinstance(row, types.Integer)
            and isinstance(col, types.Integer)
        ):
            return None
        sig = types.void(arr, row, col)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            idx = [
                context.cast(builder, args[1], signature.args[1], types.intp),
                context.cast(builder, args[2], signature.args[2], types.intp),
            ]
            ptr = cgutils.get_item_pointer2(
                context,
                builder,
                ary.data,
                cgutils.unpack_tuple(builder, ary.shape),
                cgutils.unpack_tuple(builder, ary.strides),
                aryty.layout,
                idx,
                wraparound=False,
                boundscheck=False,
            )
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            # a read, kept in all cache levels, of data
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return sig, codegen

    @overload(prefetch, inline="always")
    def _prefetch_impl(arr: Any, row: Any, col: Any) -> Any:
        def impl(arr: Any, row: Any, col: Any) -> Any:  # same signature as the typing function
            _llvm_prefetch(arr, row, col)  # type: ignore[call-arg]  # typingctx is implicit

        return impl


if not jit_disabled():
    _register_overload()
