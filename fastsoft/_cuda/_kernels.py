"""numba.cuda kernels over the blocks that ``fastsoft._cuda._run`` prepares.

Layout contract: row functions take 3-D views ``(outer, n, inner)`` and reduce
the middle axis; ``inner == 1`` (the last axis) goes to the ``rows_*`` kernels,
whose threads run along a row, ``inner > 1`` to the ``cols_*`` kernels, whose
threads run across adjacent columns (so every load is coalesced and nothing is
transposed).  Views may be strided.  Element-wise functions take 1-D views.
Inputs and outputs of the row and element-wise kernels have the compute dtype
(float32 or float64); ``copy4`` converts dtypes.

Launch shape: a block is 2-D.  ``rows_*``: ``blockDim.x`` threads per row,
``blockDim.y`` rows per block.  ``cols_*``: ``blockDim.x`` adjacent columns,
``blockDim.y`` lanes that split the reduced axis.  Every kernel loops over its
tasks grid-stride, so any grid size is correct.  Reductions across threads go
through dynamic shared memory (float64; a tree of ``syncthreads`` steps, no warp
shuffles, so the CUDA simulator runs exactly the code a GPU runs).

Very long rows (or column tiles) are split into ``chunks``: a PARTIAL launch
writes each chunk's statistics to ``part``, a FINAL launch combines the chunks'
statistics and writes the outputs of its chunk (logsumexp: one value per row).

The forward statistics are the online normalizer (Milakov & Gimelshein 2018,
"Online normalizer calculation for softmax"): one pass keeps the running max
``m`` and the sum ``s`` of ``exp(x - m)`` rescaled whenever ``m`` grows, and two
partial (m, s) pairs combine the same way, in any order.  Flags record whether
the group had any unmasked entry, a NaN or a +inf; non-finite values never
enter (m, s), so no ``inf - inf`` is ever formed.

Precision: ``x - m`` is computed exactly (TwoSum) and ``exp`` corrected for its
rounding, as in the CPU kernels; sums accumulate in float64 (float32 input
too: one float64 add per element); exp runs in the compute dtype.  ``float()``
marks each float64 promotion explicitly (it also makes the simulator, which
runs this code as Python, accumulate in float64 as the GPU does).
"""

import functools
import math

import numpy as np
from numba import cuda, float64

# Flags of a group's statistics.
FOUND, HAS_NAN, HAS_POSINF = 1, 2, 4

# Forward ops, backward ops, element-wise ops.
SOFTMAX, LOG_SOFTMAX, LOGSUMEXP = 0, 1, 2
SOFTMAX_BACKWARD, LOG_SOFTMAX_BACKWARD = 0, 1
SIGMOID, LOG_SIGMOID = 0, 1

# Stages of a row: all in one launch, or split across blocks in two launches.
WHOLE, PARTIAL, FINAL = 0, 1, 2


@functools.lru_cache(maxsize=None)
def kernels(dtype):
    """The kernels for compute dtype ``dtype`` (np.float32 or np.float64)."""
    return _build(np.dtype(dtype).type)


def _build(ftype):
    # ftype(...) casts keep constants and running maxima in the compute dtype;
    # a bare float literal would promote float32 arithmetic to float64.

    @cuda.jit(device=True)
    def two_diff(a, b):
        """a - b as hi + lo exactly (Knuth's TwoSum), for finite a and b."""
        hi = a - b
        a_part = hi + b
        b_part = hi - a_part
        lo = (a - a_part) - (b + b_part)
        return hi, lo

    @cuda.jit(device=True)
    def exp_diff(a, b):
        """exp(a - b) for a <= b, b finite, a finite or -inf; exp(hi) * (1 + lo)."""
        if a == -math.inf:
            return ftype(0.0)
        hi, lo = two_diff(a, b)
        if hi == -math.inf:  # overflowed: exp is 0 anyway, and lo would be NaN
            return ftype(0.0)
        e = math.exp(hi)
        return e + e * lo

    @cuda.jit(device=True)
    def push(m, s, f, v):
        """Fold one unmasked value v into the running (max, sum of exp(x - max), flags)."""
        f |= FOUND
        if v > m:
            if v == math.inf:
                f |= HAS_POSINF
            else:
                s = s * float(exp_diff(m, v)) + 1.0
                m = v
        elif v != v:
            f |= HAS_NAN
        elif v != -math.inf:
            s += float(exp_diff(v, m))
        return m, s, f

    @cuda.jit(device=True)
    def merge(m1, s1, f1, m2, s2, f2):
        """Combine two (max, sum, flags) statistics; maxima are finite or -inf."""
        if m2 > m1:
            return m2, s1 * float(exp_diff(m1, m2)) + s2, f1 | f2
        if m1 > m2:
            return m1, s1 + s2 * float(exp_diff(m2, m1)), f1 | f2
        return m1, s1 + s2, f1 | f2

    @cuda.jit(device=True)
    def reduce_stats(sh, size, base, step, lane, count):
        """Tree-reduce ``count`` (a power of two) statistics at sh[base + k * step] into k = 0.

        ``sh`` holds maxima at [0, size), sums at [size, 2 size), flags at
        [2 size, 3 size).  Every thread of the block must call this.
        """
        half = count // 2
        while half > 0:
            if lane < half:
                a = base + lane * step
                b = a + half * step
                m, s, f = merge(ftype(sh[a]), sh[size + a], int(sh[2 * size + a]),
                                ftype(sh[b]), sh[size + b], int(sh[2 * size + b]))
                sh[a] = m
                sh[size + a] = s
                sh[2 * size + a] = f
            cuda.syncthreads()
            half //= 2

    @cuda.jit(device=True)
    def reduce_sum(sh, base, step, lane, count):
        """Tree-reduce ``count`` float64 values at sh[base + k * step] into k = 0."""
        half = count // 2
        while half > 0:
            if lane < half:
                a = base + lane * step
                sh[a] = sh[a] + sh[a + half * step]
            cuda.syncthreads()
            half //= 2

    @cuda.jit(device=True)
    def is_normal(m, f):
        """A group with unmasked entries, at least one finite, and no NaN or +inf."""
        return (f & FOUND) != 0 and (f & (HAS_NAN | HAS_POSINF)) == 0 and m != -math.inf

    @cuda.jit(device=True)
    def row_scale(op, m, s, f):
        """1 / sum (softmax) or log(sum) (log_softmax) of a normal group; else 0."""
        if not is_normal(m, f):
            return 0.0
        if op == SOFTMAX:
            return 1.0 / s
        return math.log(s)

    @cuda.jit(device=True)
    def lse_value(m, s, f):
        # NaN beats +inf beats -inf; all -inf, fully masked or empty gives -inf.
        if (f & FOUND) == 0:
            return -math.inf
        if (f & HAS_NAN) != 0:
            return math.nan
        if (f & HAS_POSINF) != 0:
            return math.inf
        if m == -math.inf:
            return -math.inf
        return float(m) + math.log(s)

    @cuda.jit(device=True)
    def forward_value(op, v, keep, normal, m, scale):
        """softmax or log_softmax of one entry v of a group with max m and ``scale``."""
        if op == SOFTMAX:
            if not keep:
                return 0.0
            if not normal:  # a group with NaN, +inf or only -inf
                return math.nan
            return float(exp_diff(v, m)) * scale
        if not keep:
            return -math.inf
        if not normal:
            return math.nan
        if v == -math.inf:
            return -math.inf
        # (x - max) - log(sum) keeps x - max exact near the max.
        hi, lo = two_diff(v, m)
        return (float(hi) - scale) + float(lo)

    @cuda.jit(device=True)
    def backward_term(op, y, dy):
        if op == SOFTMAX_BACKWARD:
            return float(dy) * float(y)
        return float(dy)

    @cuda.jit(device=True)
    def backward_value(op, y, dy, total):
        if op == SOFTMAX_BACKWARD:
            return float(y) * (float(dy) - total)  # y * (dy - sum(dy * y))
        # dy - exp(y) * sum(dy), exp in the compute dtype; where a float32 exp
        # underflows to 0 or overflows (y < -103.97 or > 88.72), the float64 exp
        # (0 * inf would be NaN where the reference's exp(y) * inf is infinite).
        e = float(math.exp(ftype(y)))
        if e == 0.0 or e == math.inf:
            e = math.exp(float(y))
        return float(dy) - e * total

    # ----------------------------------------------------------------------
    # Last axis: x is (rows, n, 1); blockDim = (threads per row, rows per block).

    @cuda.jit
    def rows_forward(op, stage, x, mask, has_mask, out, part, chunk_len, chunks, n_parts):
        sh = cuda.shared.array(0, float64)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tpr = cuda.blockDim.x
        rpb = cuda.blockDim.y
        size = tpr * rpb
        base = ty * tpr
        rows = x.shape[0]
        n = x.shape[1]
        tiles = (rows + rpb - 1) // rpb
        for task in range(cuda.blockIdx.x, tiles * chunks, cuda.gridDim.x):
            tile = task // chunks
            c = task - tile * chunks
            r = tile * rpb + ty
            j0 = c * chunk_len
            j1 = min(j0 + chunk_len, n)
            m = ftype(-math.inf)
            s = 0.0
            f = 0
            if r < rows:
                if stage == FINAL:
                    for k in range(tx, n_parts, tpr):
                        m, s, f = merge(m, s, f, ftype(part[0, r, k]), part[1, r, k],
                                        int(part[2, r, k]))
                else:
                    for j in range(j0 + tx, j1, tpr):  # coalesced: adjacent threads, adjacent j
                        if not has_mask or mask[r, j, 0]:
                            m, s, f = push(m, s, f, ftype(x[r, j, 0]))
            sh[base + tx] = m
            sh[size + base + tx] = s
            sh[2 * size + base + tx] = f
            cuda.syncthreads()
            reduce_stats(sh, size, base, 1, tx, tpr)
            m = ftype(sh[base])
            s = sh[size + base]
            f = int(sh[2 * size + base])
            cuda.syncthreads()  # shared memory is rewritten by the next task
            if r < rows:
                if stage == PARTIAL:
                    if tx == 0:
                        part[0, r, c] = m
                        part[1, r, c] = s
                        part[2, r, c] = f
                elif op == LOGSUMEXP:
                    if tx == 0:
                        out[r, 0, 0] = lse_value(m, s, f)
                else:
                    normal = is_normal(m, f)
                    scale = row_scale(op, m, s, f)
                    for j in range(j0 + tx, j1, tpr):
                        keep = not has_mask or mask[r, j, 0]
                        out[r, j, 0] = forward_value(op, ftype(x[r, j, 0]), keep, normal, m,
                                                     scale)

    @cuda.jit
    def rows_backward(op, stage, y, dy, out, part, chunk_len, chunks, n_parts):
        sh = cuda.shared.array(0, float64)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tpr = cuda.blockDim.x
        rpb = cuda.blockDim.y
        base = ty * tpr
        rows = y.shape[0]
        n = y.shape[1]
        tiles = (rows + rpb - 1) // rpb
        for task in range(cuda.blockIdx.x, tiles * chunks, cuda.gridDim.x):
            tile = task // chunks
            c = task - tile * chunks
            r = tile * rpb + ty
            j0 = c * chunk_len
            j1 = min(j0 + chunk_len, n)
            acc = 0.0
            if r < rows:
                if stage == FINAL:
                    for k in range(tx, n_parts, tpr):
                        acc += part[0, r, k]
                else:
                    for j in range(j0 + tx, j1, tpr):
                        acc += backward_term(op, y[r, j, 0], dy[r, j, 0])
            sh[base + tx] = acc
            cuda.syncthreads()
            reduce_sum(sh, base, 1, tx, tpr)
            total = sh[base]
            cuda.syncthreads()
            if r < rows:
                if stage == PARTIAL:
                    if tx == 0:
                        part[0, r, c] = total
                else:
                    # Fused: the sum and the gradient in one kernel, no dy * y array.
                    for j in range(j0 + tx, j1, tpr):
                        out[r, j, 0] = backward_value(op, y[r, j, 0], dy[r, j, 0], total)

    # ----------------------------------------------------------------------
    # Other axes: x is (outer, n, inner); blockDim = (adjacent columns, lanes along n).

    @cuda.jit
    def cols_forward(op, stage, x, mask, has_mask, out, part, chunk_len, chunks, n_parts):
        sh = cuda.shared.array(0, float64)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        width = cuda.blockDim.x
        lanes = cuda.blockDim.y
        size = width * lanes
        slot = ty * width + tx
        outer = x.shape[0]
        n = x.shape[1]
        inner = x.shape[2]
        col_tiles = (inner + width - 1) // width
        for task in range(cuda.blockIdx.x, outer * col_tiles * chunks, cuda.gridDim.x):
            tile = task // chunks
            c = task - tile * chunks
            o = tile // col_tiles
            i = (tile - o * col_tiles) * width + tx
            u = o * inner + i
            j0 = c * chunk_len
            j1 = min(j0 + chunk_len, n)
            m = ftype(-math.inf)
            s = 0.0
            f = 0
            if i < inner:
                if stage == FINAL:
                    for k in range(ty, n_parts, lanes):
                        m, s, f = merge(m, s, f, ftype(part[0, u, k]), part[1, u, k],
                                        int(part[2, u, k]))
                else:
                    for j in range(j0 + ty, j1, lanes):  # coalesced: adjacent threads, adjacent i
                        if not has_mask or mask[o, j, i]:
                            m, s, f = push(m, s, f, ftype(x[o, j, i]))
            sh[slot] = m
            sh[size + slot] = s
            sh[2 * size + slot] = f
            cuda.syncthreads()
            reduce_stats(sh, size, tx, width, ty, lanes)
            m = ftype(sh[tx])
            s = sh[size + tx]
            f = int(sh[2 * size + tx])
            cuda.syncthreads()
            if i < inner:
                if stage == PARTIAL:
                    if ty == 0:
                        part[0, u, c] = m
                        part[1, u, c] = s
                        part[2, u, c] = f
                elif op == LOGSUMEXP:
                    if ty == 0:
                        out[o, 0, i] = lse_value(m, s, f)
                else:
                    normal = is_normal(m, f)
                    scale = row_scale(op, m, s, f)
                    for j in range(j0 + ty, j1, lanes):
                        keep = not has_mask or mask[o, j, i]
                        out[o, j, i] = forward_value(op, ftype(x[o, j, i]), keep, normal, m,
                                                     scale)

    @cuda.jit
    def cols_backward(op, stage, y, dy, out, part, chunk_len, chunks, n_parts):
        sh = cuda.shared.array(0, float64)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        width = cuda.blockDim.x
        lanes = cuda.blockDim.y
        slot = ty * width + tx
        outer = y.shape[0]
        n = y.shape[1]
        inner = y.shape[2]
        col_tiles = (inner + width - 1) // width
        for task in range(cuda.blockIdx.x, outer * col_tiles * chunks, cuda.gridDim.x):
            tile = task // chunks
            c = task - tile * chunks
            o = tile // col_tiles
            i = (tile - o * col_tiles) * width + tx
            u = o * inner + i
            j0 = c * chunk_len
            j1 = min(j0 + chunk_len, n)
            acc = 0.0
            if i < inner:
                if stage == FINAL:
                    for k in range(ty, n_parts, lanes):
                        acc += part[0, u, k]
                else:
                    for j in range(j0 + ty, j1, lanes):
                        acc += backward_term(op, y[o, j, i], dy[o, j, i])
            sh[slot] = acc
            cuda.syncthreads()
            reduce_sum(sh, tx, width, ty, lanes)
            total = sh[tx]
            cuda.syncthreads()
            if i < inner:
                if stage == PARTIAL:
                    if ty == 0:
                        part[0, u, c] = total
                else:
                    for j in range(j0 + ty, j1, lanes):
                        out[o, j, i] = backward_value(op, y[o, j, i], dy[o, j, i], total)

    # ----------------------------------------------------------------------
    # Element-wise, 1-D views.

    @cuda.jit
    def unary(op, x, out):
        one = ftype(1.0)
        zero = ftype(0.0)
        for k in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            v = ftype(x[k])
            # Split on the sign: exp(-|x|) never overflows, and for x < 0 the
            # sigmoid e / (1 + e) keeps full relative precision (no 1 - tiny).
            e = math.exp(-abs(v))
            if op == SIGMOID:
                out[k] = one / (one + e) if v >= zero else e / (one + e)
            else:
                # log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)); NaN propagates via exp.
                out[k] = (v if v < zero else zero) - math.log1p(e)

    @cuda.jit
    def sigmoid_backward(y, dy, out):
        # dy * y * (1 - y) in float64, as the reference: float32 dy * y can
        # overflow where the result does not (y beyond [0, 1]).  A memory-bound
        # loop of three operations per element, whichever the GPU's float64 rate.
        for k in range(cuda.grid(1), y.shape[0], cuda.gridsize(1)):
            w = float(y[k])
            out[k] = float(dy[k]) * w * (1.0 - w)

    return _Kernels(rows_forward, rows_backward, cols_forward, cols_backward, unary,
                    sigmoid_backward)


class _Kernels:
    __slots__ = ("rows_forward", "rows_backward", "cols_forward", "cols_backward", "unary",
                 "sigmoid_backward")

    def __init__(self, *kernels):
        for name, kernel in zip(self.__slots__, kernels):
            setattr(self, name, kernel)


# --------------------------------------------------------------------------
# Layout helpers, any dtype: 4-D views (callers pad with length-1 axes).


@cuda.jit
def copy4(src, dst):
    """dst[...] = src[...], converting the dtype; any strides."""
    d0, d1, d2, d3 = dst.shape
    for k in range(cuda.grid(1), d0 * d1 * d2 * d3, cuda.gridsize(1)):
        i3 = k % d3
        t = k // d3
        i2 = t % d2
        t = t // d2
        i1 = t % d1
        i0 = t // d1
        dst[i0, i1, i2, i3] = src[i0, i1, i2, i3]


@cuda.jit
def fill4(dst, value):
    d0, d1, d2, d3 = dst.shape
    for k in range(cuda.grid(1), d0 * d1 * d2 * d3, cuda.gridsize(1)):
        i3 = k % d3
        t = k // d3
        i2 = t % d2
        t = t // d2
        i1 = t % d1
        i0 = t // d1
        dst[i0, i1, i2, i3] = value
