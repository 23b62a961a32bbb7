"""Numba kernels over the blocks the front door hands over.

Layout contract (see ``fastsoft._api``): inputs and outputs are C-contiguous
float32 or float64 arrays of one dtype.  Row functions take ``(outer, n,
inner)`` blocks and reduce the middle axis; ``inner == 1`` is the last-axis
case and runs one row per task, ``inner > 1`` runs chunks of the contiguous
inner axis so loads stay vectorizable and nothing is transposed.  ``mask`` is
a boolean block of the same shape, or an empty array for "no mask".

Accuracy: arithmetic is float64 inside (float32 input is widened on load);
``x - max`` is computed exactly (TwoSum), since a rounded difference d costs
|d| * eps / 2 of relative error in exp(d); sums and dot products are Kahan-
compensated, so their error does not grow with the row length.  Together
these keep float64 results within a few eps of the exact answer.

The row maximum ignores NaN (comparisons with NaN are false), but a NaN still
reaches ``exp`` and turns the row's sum NaN, which is what makes the whole row
NaN.
"""

import math

import numpy as np
from numba import njit, prange

# Fast-math that keeps inf/NaN semantics: no "nnan"/"ninf" (fastmath=True has
# both and breaks -inf masks and NaN propagation).
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Inner-axis columns handled by one task of a non-last-axis kernel.
COLUMN_CHUNK = 256

NO_MASK_3D = np.zeros((0, 0, 0), dtype=np.bool_)
NO_MASK_1D = np.zeros(0, dtype=np.bool_)


def _jit(parallel=False, fastmath=FASTMATH):
    # error_model="numpy": 1/0 gives inf instead of raising ZeroDivisionError.
    return njit(parallel=parallel, nogil=True, cache=True, fastmath=fastmath,
                error_model="numpy")


# --------------------------------------------------------------------------
# Error-free transformations.  Compiled without fast-math: reassociation would
# simplify the error terms to zero.  (Fast-math flags are per instruction, so
# they stay exact when inlined into fast-math callers.)


@_jit(fastmath=False)
def _diff_exact(v, m):
    """v - m as hi + lo exactly (Knuth's TwoSum); lo is 0 when hi is not finite."""
    hi = v - m
    v_part = hi + m
    m_part = hi - v_part
    lo = (v - v_part) - (m + m_part)
    return hi, (lo if math.isfinite(lo) else 0.0)


@_jit(fastmath=False)
def _exp_diff(v, m):
    """exp(v - m) without the rounding error of v - m: exp(hi) * (1 + lo)."""
    hi, lo = _diff_exact(np.float64(v), m)
    e = math.exp(hi)
    return e + e * lo


@_jit(fastmath=False)
def _kahan_add(total, comp, v):
    """Add v to total with Kahan compensation; returns (total, comp)."""
    y = v - comp
    t = total + y
    comp = (t - total) - y
    # Once the total is infinite the correction is inf - inf: drop it, or it
    # would turn an infinite sum into NaN.
    return t, (comp if math.isfinite(comp) else 0.0)


# --------------------------------------------------------------------------
# One row (last axis): x, mask, out are 1-D; mask is empty for "no mask".


@_jit()
def _row_max(x, mask):
    """Max of the unmasked entries (-inf if none) and whether any is unmasked."""
    row_max = -np.inf
    if mask.size == 0:
        for j in range(x.size):
            if x[j] > row_max:
                row_max = x[j]
        return row_max, x.size > 0
    found = False
    for j in range(x.size):
        if mask[j]:
            found = True
            if x[j] > row_max:
                row_max = x[j]
    return row_max, found


@_jit()
def _row_sum_exp(x, mask, row_max):
    total, comp = 0.0, 0.0
    for j in range(x.size):
        if mask.size == 0 or mask[j]:
            total, comp = _kahan_add(total, comp, _exp_diff(x[j], row_max))
    return total


@_jit()
def _row_has_nan(x, mask):
    for j in range(x.size):
        if x[j] != x[j] and (mask.size == 0 or mask[j]):
            return True
    return False


@_jit()
def _lse_nonfinite(x, mask, row_max):
    """logsumexp of a row whose max is not finite: NaN beats +inf beats -inf."""
    if _row_has_nan(x, mask):
        return np.nan
    return row_max


@_jit()
def _softmax_row(x, mask, out):
    row_max, found = _row_max(x, mask)
    if not found:
        out[:] = 0.0
        return
    # Shift by the max: every exp is <= 1 and the largest is exactly 1, so the
    # sum cannot overflow and is >= 1.  A non-finite max gives NaN (as wanted).
    total, comp = 0.0, 0.0
    for j in range(x.size):
        e = _exp_diff(x[j], row_max)
        if mask.size != 0 and not mask[j]:
            e = 0.0
        out[j] = e
        total, comp = _kahan_add(total, comp, e)
    inv_sum = 1.0 / total
    if mask.size == 0:
        for j in range(x.size):
            out[j] = out[j] * inv_sum
    else:
        for j in range(x.size):
            out[j] = out[j] * inv_sum if mask[j] else 0.0


@_jit()
def _log_softmax_row(x, mask, out):
    row_max, found = _row_max(x, mask)
    if not found:
        out[:] = -np.inf
        return
    # (x - max) - log(sum) keeps x - max exact near the max: log_softmax of
    # [0, -1e4] is exactly [0, -1e4].
    log_sum = math.log(_row_sum_exp(x, mask, row_max))
    for j in range(x.size):
        if mask.size == 0 or mask[j]:
            hi, lo = _diff_exact(np.float64(x[j]), row_max)
            out[j] = (hi - log_sum) + lo
        else:
            out[j] = -np.inf


@_jit()
def _logsumexp_row(x, mask):
    row_max, found = _row_max(x, mask)
    if not found:
        return -np.inf
    if not math.isfinite(row_max):
        return _lse_nonfinite(x, mask, row_max)
    return row_max + math.log(_row_sum_exp(x, mask, row_max))


@_jit()
def _softmax_backward_row(y, dy, out):
    dot, comp = 0.0, 0.0
    for j in range(y.size):
        dot, comp = _kahan_add(dot, comp, np.float64(dy[j]) * y[j])
    for j in range(y.size):
        out[j] = y[j] * (dy[j] - dot)


@_jit()
def _log_softmax_backward_row(y, dy, out):
    total, comp = 0.0, 0.0
    for j in range(y.size):
        total, comp = _kahan_add(total, comp, np.float64(dy[j]))
    for j in range(y.size):
        out[j] = dy[j] - math.exp(np.float64(y[j])) * total


# --------------------------------------------------------------------------
# Columns i0:i1 of slab o of an (outer, n, inner) block, reduced over n.
# ``col_max``/``col_sum``/``col_comp`` are float64 scratch of length i1 - i0
# (``col_comp`` holds the Kahan compensation of ``col_sum``).


@_jit()
def _cols_max(x, mask, o, i0, i1, col_max):
    """Per-column max of unmasked entries; returns nothing, -inf marks none."""
    col_max[:] = -np.inf
    for j in range(x.shape[1]):
        for i in range(i0, i1):
            v = x[o, j, i]
            if v > col_max[i - i0] and (mask.size == 0 or mask[o, j, i]):
                col_max[i - i0] = v


@_jit()
def _cols_found(mask, o, i0, i1, found):
    if mask.size == 0:
        found[:] = True
        return
    found[:] = False
    for j in range(mask.shape[1]):
        for i in range(i0, i1):
            if mask[o, j, i]:
                found[i - i0] = True


@_jit()
def _cols_sum_exp(x, mask, o, i0, i1, col_max, col_sum, col_comp):
    col_sum[:] = 0.0
    col_comp[:] = 0.0
    for j in range(x.shape[1]):
        for i in range(i0, i1):
            if mask.size == 0 or mask[o, j, i]:
                e = _exp_diff(x[o, j, i], col_max[i - i0])
                col_sum[i - i0], col_comp[i - i0] = _kahan_add(col_sum[i - i0],
                                                               col_comp[i - i0], e)


@_jit()
def _softmax_cols(x, mask, o, i0, i1, out, col_max, col_sum, col_comp, found):
    _cols_max(x, mask, o, i0, i1, col_max)
    _cols_found(mask, o, i0, i1, found)
    col_sum[:] = 0.0
    col_comp[:] = 0.0
    for j in range(x.shape[1]):
        for i in range(i0, i1):
            e = _exp_diff(x[o, j, i], col_max[i - i0])
            if mask.size != 0 and not mask[o, j, i]:
                e = 0.0
            out[o, j, i] = e
            col_sum[i - i0], col_comp[i - i0] = _kahan_add(col_sum[i - i0], col_comp[i - i0], e)
    for i in range(i1 - i0):
        col_sum[i] = 1.0 / col_sum[i]
    for j in range(x.shape[1]):
        for i in range(i0, i1):
            keep = found[i - i0] and (mask.size == 0 or mask[o, j, i])
            out[o, j, i] = out[o, j, i] * col_sum[i - i0] if keep else 0.0


@_jit()
def _log_softmax_cols(x, mask, o, i0, i1, out, col_max, col_sum, col_comp, found):
    _cols_max(x, mask, o, i0, i1, col_max)
    _cols_found(mask, o, i0, i1, found)
    _cols_sum_exp(x, mask, o, i0, i1, col_max, col_sum, col_comp)
    for i in range(i1 - i0):
        col_sum[i] = math.log(col_sum[i])
    for j in range(x.shape[1]):
        for i in range(i0, i1):
            if found[i - i0] and (mask.size == 0 or mask[o, j, i]):
                hi, lo = _diff_exact(np.float64(x[o, j, i]), col_max[i - i0])
                out[o, j, i] = (hi - col_sum[i - i0]) + lo
            else:
                out[o, j, i] = -np.inf


@_jit()
def _logsumexp_cols(x, mask, o, i0, i1, out, col_max, col_sum, col_comp, found):
    _cols_max(x, mask, o, i0, i1, col_max)
    _cols_found(mask, o, i0, i1, found)
    _cols_sum_exp(x, mask, o, i0, i1, col_max, col_sum, col_comp)
    for i in range(i0, i1):
        m = col_max[i - i0]
        if not found[i - i0]:
            out[o, i] = -np.inf
        elif math.isfinite(m):
            out[o, i] = m + math.log(col_sum[i - i0])
        else:
            # Rare: scan the column for NaN, which beats +inf and -inf.
            has_nan = False
            for j in range(x.shape[1]):
                v = x[o, j, i]
                if v != v and (mask.size == 0 or mask[o, j, i]):
                    has_nan = True
            out[o, i] = np.nan if has_nan else m


@_jit()
def _softmax_backward_cols(y, dy, o, i0, i1, out, col_sum, col_comp):
    col_sum[:] = 0.0
    col_comp[:] = 0.0
    for j in range(y.shape[1]):
        for i in range(i0, i1):
            v = np.float64(dy[o, j, i]) * y[o, j, i]
            col_sum[i - i0], col_comp[i - i0] = _kahan_add(col_sum[i - i0], col_comp[i - i0], v)
    for j in range(y.shape[1]):
        for i in range(i0, i1):
            out[o, j, i] = y[o, j, i] * (dy[o, j, i] - col_sum[i - i0])


@_jit()
def _log_softmax_backward_cols(y, dy, o, i0, i1, out, col_sum, col_comp):
    col_sum[:] = 0.0
    col_comp[:] = 0.0
    for j in range(y.shape[1]):
        for i in range(i0, i1):
            v = np.float64(dy[o, j, i])
            col_sum[i - i0], col_comp[i - i0] = _kahan_add(col_sum[i - i0], col_comp[i - i0], v)
    for j in range(y.shape[1]):
        for i in range(i0, i1):
            out[o, j, i] = dy[o, j, i] - math.exp(np.float64(y[o, j, i])) * col_sum[i - i0]


# --------------------------------------------------------------------------
# Parallel drivers: one task per row (inner == 1) or per chunk of columns.
# ``op`` picks the function so that related kernels share one compiled driver.

SOFTMAX, LOG_SOFTMAX = 0, 1
SOFTMAX_BACKWARD, LOG_SOFTMAX_BACKWARD = 0, 1


@_jit(parallel=True)
def normalize_rows(op, x, mask, out):
    for r in prange(x.shape[0]):
        mask_row = mask[r, :, 0] if mask.size else NO_MASK_1D
        if op == SOFTMAX:
            _softmax_row(x[r, :, 0], mask_row, out[r, :, 0])
        else:
            _log_softmax_row(x[r, :, 0], mask_row, out[r, :, 0])


@_jit(parallel=True)
def logsumexp_rows(x, mask, out):
    for r in prange(x.shape[0]):
        out[r, 0] = _logsumexp_row(x[r, :, 0], mask[r, :, 0] if mask.size else NO_MASK_1D)


@_jit(parallel=True)
def backward_rows(op, y, dy, out):
    for r in prange(y.shape[0]):
        if op == SOFTMAX_BACKWARD:
            _softmax_backward_row(y[r, :, 0], dy[r, :, 0], out[r, :, 0])
        else:
            _log_softmax_backward_row(y[r, :, 0], dy[r, :, 0], out[r, :, 0])


@_jit()
def _chunk_bounds(t, chunks, inner):
    # prange indices may be unsigned; int64 keeps the arithmetic integral.
    t, chunks = np.int64(t), np.int64(chunks)
    o = t // chunks
    i0 = (t - o * chunks) * COLUMN_CHUNK
    return o, i0, min(i0 + COLUMN_CHUNK, inner)


@_jit(parallel=True)
def normalize_cols(op, x, mask, out):
    outer, inner = x.shape[0], x.shape[2]
    chunks = (inner + COLUMN_CHUNK - 1) // COLUMN_CHUNK
    # Scratch for every task, allocated once: O(outer * inner), not O(size).
    col_max = np.empty((outer * chunks, COLUMN_CHUNK))
    col_sum = np.empty((outer * chunks, COLUMN_CHUNK))
    col_comp = np.empty((outer * chunks, COLUMN_CHUNK))
    found = np.empty((outer * chunks, COLUMN_CHUNK), dtype=np.bool_)
    for t in prange(outer * chunks):
        o, i0, i1 = _chunk_bounds(t, chunks, inner)
        w = i1 - i0
        if op == SOFTMAX:
            _softmax_cols(x, mask, o, i0, i1, out, col_max[t, :w], col_sum[t, :w],
                          col_comp[t, :w], found[t, :w])
        else:
            _log_softmax_cols(x, mask, o, i0, i1, out, col_max[t, :w], col_sum[t, :w],
                              col_comp[t, :w], found[t, :w])


@_jit(parallel=True)
def logsumexp_cols(x, mask, out):
    outer, inner = x.shape[0], x.shape[2]
    chunks = (inner + COLUMN_CHUNK - 1) // COLUMN_CHUNK
    col_max = np.empty((outer * chunks, COLUMN_CHUNK))
    col_sum = np.empty((outer * chunks, COLUMN_CHUNK))
    col_comp = np.empty((outer * chunks, COLUMN_CHUNK))
    found = np.empty((outer * chunks, COLUMN_CHUNK), dtype=np.bool_)
    for t in prange(outer * chunks):
        o, i0, i1 = _chunk_bounds(t, chunks, inner)
        w = i1 - i0
        _logsumexp_cols(x, mask, o, i0, i1, out, col_max[t, :w], col_sum[t, :w],
                        col_comp[t, :w], found[t, :w])


@_jit(parallel=True)
def backward_cols(op, y, dy, out):
    outer, inner = y.shape[0], y.shape[2]
    chunks = (inner + COLUMN_CHUNK - 1) // COLUMN_CHUNK
    col_sum = np.empty((outer * chunks, COLUMN_CHUNK))
    col_comp = np.empty((outer * chunks, COLUMN_CHUNK))
    for t in prange(outer * chunks):
        o, i0, i1 = _chunk_bounds(t, chunks, inner)
        w = i1 - i0
        if op == SOFTMAX_BACKWARD:
            _softmax_backward_cols(y, dy, o, i0, i1, out, col_sum[t, :w], col_comp[t, :w])
        else:
            _log_softmax_backward_cols(y, dy, o, i0, i1, out, col_sum[t, :w], col_comp[t, :w])


# --------------------------------------------------------------------------
# Element-wise (1-D blocks).  No reductions, so no "reassoc": reordering
# dy * y * (1 - y) as dy * (y * (1 - y)) overflows for out-of-range y.

ELEMENTWISE_FASTMATH = FASTMATH - {"reassoc"}


@_jit(parallel=True, fastmath=ELEMENTWISE_FASTMATH)
def sigmoid(x, out):
    for i in prange(x.size):
        v = np.float64(x[i])
        # Split on the sign: exp(-|x|) never overflows, and for x < 0 the
        # result e / (1 + e) keeps full relative precision (no 1 - tiny).
        e = math.exp(-abs(v))
        out[i] = 1.0 / (1.0 + e) if v >= 0.0 else e / (1.0 + e)


@_jit(parallel=True, fastmath=ELEMENTWISE_FASTMATH)
def log_sigmoid(x, out):
    for i in prange(x.size):
        v = np.float64(x[i])
        # log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)); NaN propagates via exp.
        out[i] = (v if v < 0.0 else 0.0) - math.log1p(math.exp(-abs(v)))


@_jit(parallel=True, fastmath=ELEMENTWISE_FASTMATH)
def sigmoid_backward(y, dy, out):
    for i in prange(y.size):
        v = np.float64(y[i])
        out[i] = dy[i] * v * (1.0 - v)
