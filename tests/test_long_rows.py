"""log_softmax_backward on long rows: the max of y taken as the results are written.

The Cython backend chooses the exp of ``dy - exp(y) * sum(dy)`` from the
row's max of y.  On rows longer than 128 KB it writes the row first with the
exp chosen for y <= 0 (what log_softmax gives), taking the max of y as it
goes, and writes the row again when the max asks for another exp (float32:
a max above 43, or exp(max) * |sum| beyond 2^127; float64: a max above
664).  Each kind of row below must match the reference on every backend,
and, on the Cython backend, equal bit for bit the result of the path that
takes the max before writing (out is dy: in place, a row cannot be written
twice).
"""

import numpy as np
import pytest
from numpy import inf, nan

from tests.util import call, check, seed_of

# Rows past 128 KB, whole cache lines long, at least 8 of them (so that two
# threads take whole rows: fewer, longer rows are split).  The arrays start
# one element past a 64-byte boundary: every row has a head before its first
# boundary (15 float32 or 7 float64 elements), then whole lanes of 32
# elements, then a tail of one element.
LENGTH = {"float32": 40016, "float64": 20008}
ROWS = (
    "log_softmax",       # y <= 0: the first write stands
    "max 30",            # y > 0, the same exp
    "max 50",            # float32: beyond the float32 exp (written again)
    "max 700",           # float64 too: beyond fs_exp_small (written again)
    "max 40, big sum",   # float32: exp(40) * |sum| beyond 2^127 (written again)
    "sum beyond 2^127",  # float32: the wide exp from the start
    "nan",               # NaN in y: skipped by the max, NaN results
    "+inf",              # max +inf: written again
    "-inf",              # exp(-inf) = 0
)


def _at_line_plus_one(a):
    """A copy of `a` starting one element past a 64-byte boundary."""
    raw = np.empty(a.nbytes + 128, np.uint8)
    start = -raw.ctypes.data % 64 + a.itemsize
    copy = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    copy[...] = a
    return copy


def _inputs(dtype):
    n = LENGTH[dtype]
    rng = np.random.default_rng(seed_of("long rows", dtype))
    x = rng.standard_normal((len(ROWS), n)) * 3
    y = x - np.log(np.sum(np.exp(x), axis=-1, keepdims=True))
    dy = rng.standard_normal((len(ROWS), n))
    row = {name: i for i, name in enumerate(ROWS)}
    # In the head, the lanes and the tail: each one alone must decide.
    for spot in (0, n // 2 + 3, n - 1):
        y_row = y.copy()
        y_row[row["max 30"], spot] = 30.0
        y_row[row["max 50"], spot] = 50.0
        y_row[row["max 700"], spot] = 700.0
        y_row[row["max 40, big sum"], spot] = 40.0
        y_row[row["nan"], spot] = nan
        y_row[row["+inf"], spot] = inf
        y_row[row["-inf"], spot] = -inf
        dy_row = dy.copy()
        dy_row[row["max 40, big sum"]] *= 1e19
        dy_row[row["sum beyond 2^127"]] = np.abs(dy_row[row["sum beyond 2^127"]]) * 1e36
        yield spot, _at_line_plus_one(y_row.astype(dtype)), _at_line_plus_one(dy_row.astype(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_long_rows_match_the_reference(dtype, backend):
    for _, y, dy in _inputs(dtype):
        with np.errstate(over="ignore", invalid="ignore"):
            check("log_softmax_backward", (y, dy), backend=backend)


def _copy_at_alignment_of(a):
    """A copy of C-contiguous `a` at the same address modulo 64: the lanes of
    a row's sum start at its first 64-byte boundary, and other lanes can
    round a compensated sum differently."""
    raw = np.empty(a.nbytes + 64, np.uint8)
    start = (a.ctypes.data - raw.ctypes.data) % 64
    copy = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    copy[...] = a
    return copy


def _bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_long_rows_written_once_or_twice_equal_in_place(dtype, offset, cython_variant):
    """The same bits as the in-place call, which takes the max of y first
    (its dy at the same alignment); out at y's alignment and one element off
    it."""
    for spot, y, dy in _inputs(dtype):
        raw = np.full(y.size + offset, nan, dtype)
        out = raw[offset:].reshape(y.shape)
        got = call("log_softmax_backward", y, dy, out=out, backend="cython")
        in_place = _copy_at_alignment_of(dy)
        want = call("log_softmax_backward", y, in_place, out=in_place, backend="cython")
        nan_at = np.isnan(want)
        np.testing.assert_array_equal(np.isnan(got), nan_at, err_msg=f"spot {spot}")
        np.testing.assert_array_equal(_bits(got)[~nan_at], _bits(want)[~nan_at],
                                      err_msg=f"spot {spot}")
