# The Cython backend's kernels.  One source, compiled once per instruction set:
# _kernels_baseline.pyx, _kernels_avx2.pyx and _kernels_avx512.pyx each include
# this file, and setup.py builds them with different -m flags (fastsoft/_cython/
# __init__.py picks one at import).
#
# Layout contract (fastsoft._api): C-contiguous float32 or float64 blocks of one
# dtype.  Row functions get (outer, n, inner) blocks and reduce the middle axis;
# inner == 1 is the last-axis case: rows of up to SHORT_ROW elements in blocks
# of rows (per-row scalar loops, exps vectorized over the block), longer rows
# one per task, and few long rows split across threads (two-level reduction).
# inner > 1 runs chunks of the contiguous inner axis (columns), so loads stay
# vectorizable and nothing is transposed.  Element-wise functions get 1-D
# blocks.  whole() (the front door's short path) takes whole arrays of any
# shape, its rows along the last axis, through raw buffers.  `out` may be the very memory of an input (in place): every loop
# reads an element before it writes it.  The mask is a uint8 view of a
# boolean block, or None.
#
# Accuracy (the Numba backend's method): x - max is exact (TwoSum, folded into
# the exp's argument reduction), sums are in double, float64 sums and dot
# products are Kahan-compensated per SIMD lane; float32 sums are plain double
# sums (their error, n * 2^-53, is far below float32's eps).  float32 exps,
# sigmoid and log_sigmoid run in float32 lanes (twice the elements per
# instruction; exp to 0.79-0.96 ulp), and so do float32 backward passes where
# no intermediate can overflow float32; everything else is in double.
#
# SIMD: exp and log are branch-free C from fs_math.h that gcc vectorizes
# without -ffast-math.  Reductions keep LANES independent accumulators, which
# the compiler maps onto vector registers without reassociating anything (we
# do not compile with -fassociative-math: it would break the TwoSum and Kahan
# steps).  Masked rows are scalar loops: correct, simple, and not on the hot
# path of the benchmarks.

from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE, PyBuffer_Release,
                             PyObject_GetBuffer)
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN, fabs, fmax, log
from libc.stdint cimport uint32_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

cimport cython
from cython cimport floating

cdef extern from "fs_math.h" nogil:
    double fs_exp(double x)
    double fs_exp_f32(double x)
    double fs_exp_diff(double v, double m)
    double fs_exp_diff_nonpositive(double v, double m)
    double fs_exp_small(double x)
    double fs_two_diff(double v, double m, double* lo)
    void fs_kahan_add(double* total, double* comp, double v)
    void fs_kahan_add_fast(double* total, double* comp, double v)
    double fs_lanes_total(const double* s, const double* c)
    double fs_two_sum(double a, double b, double* err)
    double fs_product(double a, double b)
    uint32_t fs_bits_f(float x)
    double fs_log1p_unit(double e)
    double fs_log_ge1(double x)
    float fs_log1p_unit_f(float e)
    float fs_max32_f(const float* m)
    double fs_max32(const double* m)
    double fs_sum32(const double* s)
    void fs_pad32_f(const float* x, long w, float* xb)
    void fs_pad32(const double* x, long w, double* xb)
    float fs_expf(float x)
    float fs_expf_small(float x)
    double fs_exp_neg(double x)
    double fs_sigmoid_exp(double x)
    float fs_sigmoid_exp_f(float x)
    float fs_sigmoid_exp_wide_f(float x)
    float fs_log_sigmoid_exp_f(float x)
    double fs_sigmoid_from_exp(double x, double e)
    void fs_sigmoid_from_exp_block(const double* x, const double* e, double* out, long n)
    void fs_copy32_f(float* dst, const float* src, long w)
    void fs_copy32(double* dst, const double* src, long w)
    float fs_sigmoid_from_exp_f(float x, float e)
    float fs_expf_diff(float v, float m)
    float fs_expf_diff_nonpositive(float v, float m)
    float fs_expf_neg_sum(float x)
    float fs_expf_diff_nonpositive_sum(float v, float m)
    float fs_expf_diff_nonpositive_exact(float v, float m)
    float fs_sub_split_f(float x, float hi, float lo)
    const float FS_EXPF_SUM_MIN
    enum: FS_LANES

cdef extern from "fs_short.h" nogil:
    long fs_short_max_f(const float* x, float* m, long count, long n)
    long fs_short_max_d(const double* x, double* m, long count, long n)
    long fs_short_spread_f(const float* vals, float* out, long count, long n)
    long fs_short_spread_d(const double* vals, double* out, long count, long n)
    long fs_short_sums_f(const float* e, double* total, long count, long n)
    enum: FS_SHORT_SUMS_MIN_N
    enum: FS_SHORT_MAX_N

cdef extern from "fs_platform.h" nogil:
    int fs_openmp_enabled()
    int fs_omp_max_threads()
    long fs_llc_bytes()
    int fs_cpu_features()
    int fs_cpu_detection()
    const char* fs_compiled_isa()
    void fs_prefetch_lines(const void* p, long bytes)
    void fs_prefetch_second_half(const void* next, long itemsize, long n, long j0, long j1,
                                 long tail)
    void fs_stream_copy_f(float* dst, const float* src, long n)
    void fs_stream_copy(double* dst, const double* src, long n)
    void fs_stream_fence()
    enum: FS_CHEAP_EXPS
    enum: FS_AVX512_BUILD
    int fs_cpu_amd()

ctypedef unsigned char mask_t

cdef enum:
    # Independent accumulators of a sum: four AVX-512 registers of doubles.
    # gcc loop-vectorizes a lane loop this long (it does not fully unroll
    # it); an 8-lane loop was unrolled and then left scalar for the
    # Kahan-compensated sums.  lanes_total folds them into fs_lanes_total's 8.
    LANES = 32
    # Independent accumulators of a max.  gcc does not SLP-vectorize a
    # fully unrolled compare-and-select (it is no MAX_EXPR without
    # -ffinite-math-only), but it loop-vectorizes a lane loop too long to be
    # unrolled (more than 16 iterations) into vmaxps/vmaxpd.
    MAX_LANES = 32  # = the 32 lanes of fs_max32 and fs_sum32 (fs_math.h)
    # Elements whose exps are buffered on the stack between the vectorized
    # exp loop and what uses them (a row's sum, log_sigmoid's log1p,
    # sigmoid's quotient): short rows stay vectorized (the loop vectorizer
    # has epilogues), for in-place calls every element of a block is read
    # before any is written, and two short loops overlap more elements than
    # one long chain per element does.
    EXP_BLOCK = 256
    # Elements that subnormal_exps_likely looks at.
    SUBNORMAL_SAMPLE = 4096
    # Default fewest elements worth waking another thread for (a parallel
    # region costs a few microseconds; exp runs at about 1 ns per element per
    # core); a row twice this long is also worth splitting across threads.
    # On the 2-core AVX2 host, in one process, medians of 5 alternations, us,
    # 2^15 / 2^13 elements (both splitting rows of at least that many):
    # (32, 1000) float32 softmax 46 / 31, float64 100 / 57, sigmoid_backward
    # 18 / 12; (64, 1000) float64 log_sigmoid 186 / 99; (2000, 10) float32
    # softmax 36 / 25; (8, 1000) unchanged (one thread either way).  2^12
    # took 2 threads for sigmoid_backward on 1e4 elements (5 -> 8 us).  Rows
    # split from 2^13 elements were slower than whole rows, or than one
    # thread: (4, 8192) float32 softmax 30 us against 26 with 2 threads over
    # whole rows, (2, 12000) float64 53 against 48 on one thread; from 2^14,
    # (1, 20000) float32 softmax 18 us against 23 on one thread.
    MIN_WORK_PER_THREAD = 1 << 13
    # Loops over arrays of at least BALANCE_MIN_BYTES (rows, short rows,
    # element-wise blocks) hand out their tasks in BALANCE_CHUNKS chunks per
    # thread as threads come for them (a dynamic schedule), not in one equal
    # share each: on a VM, one vCPU slowed for a while (another guest on its
    # core) left the other waiting at the loop's end (libgomp's barrier took
    # 6-16% of the samples).  AMD EPYC KVM guest, out=, 2 threads,
    # alternating processes, medians of 6, speed-up over equal shares:
    # log_softmax_backward (8192, 1000) float32 1.31-1.33x, float64 1.20x,
    # softmax float32 1.13x, sigmoid_backward float32 1.10-1.15x,
    # softmax_backward (4096, 4096) float32 1.10x, log_sigmoid float64
    # 1.06-1.12x, sigmoid float32 1.09x, float64 (8192, 1000) 0.93x.  On
    # arrays that stay in cache equal shares were faster ((65536, 10)
    # float64 sigmoid_backward 0.63-0.79x, sigmoid 0.73x; dynamic chunks of
    # half the tasks 0.91-0.96x: with equal shares each thread finds part of
    # its share of the last call in its own L2).
    BALANCE_CHUNKS = 16
    BALANCE_MIN_BYTES = 1 << 24
    # Elements per task of the element-wise kernels.
    ELEMENT_BLOCK = 1 << 13
    # Rows this short (and unmasked) take the short-row path: per-row work is
    # a few scalar loops, the exps run vectorized over a block of rows.
    # Measured crossovers (one core): near 128 elements for the float32
    # forward functions, near 80 for float64 and for log_softmax_backward
    # (since the row path folds its lanes in registers and pads its ends:
    # 2^20 float64 elements in rows of 96, ms short / row path: softmax
    # 1.72 / 1.10, log_softmax 2.29 / 1.48, logsumexp 1.52 / 1.25; rows of
    # 64: 1.45 / 1.58, 1.80 / 1.47, 1.16 / 1.59), near 32 for
    # softmax_backward (which has no exp to vectorize).
    SHORT_ROW = 128
    SHORT_ROW_WIDE = 80
    SHORT_ROW_NO_EXP = 32
    # Elements per block of the short-row path (stack buffers).
    SHORT_BLOCK = 1024
    # float32 short rows of at least this many elements take their maxima
    # and sums row by row in vector lanes (piece_max, lanes_add) instead of
    # four rows at a time in scalar chains.  (n, float32) of 6 MB, out=, 2
    # threads, side by side, softmax / logsumexp: n = 128 1.37 / 1.47x, 112
    # 1.18 / 1.19x, 96 1.17 / 1.23x, 80 1.17 / 1.12x, 64 1.24 / 1.33x; but 56
    # 0.89 / 0.88x, 40 0.74 / 0.77x (a row's head and tail are padded copies
    # there).  float64, with Kahan-compensated lanes, gained nothing (rows of
    # 72 and 80: 0.86 to 0.94x).
    SHORT_VECTOR_ROW = 64
    # Bytes of one column chunk (n rows x chunk columns): about one L2 cache,
    # which holds it between the passes, and wide row segments (256 float32
    # columns for n = 1000: 16 cache lines in a row) that the prefetchers
    # follow across the large row stride.  Measured on softmax (1000, 8192)
    # axis=0 float32, 2 threads: 2^16 8.4 ms, 2^17 4.5 ms, 2^18 3.6 ms,
    # 2^20 3.3 ms, 2^21 3.4 ms.  Remeasured with the prefetch below (medians
    # of 3 x 15 runs, ms, for 2^19 / 2^20 / 2^21 / 2^22): softmax float32
    # 4.4 / 3.9 / 3.9 / 4.7, float64 8.0 / 7.3 / 7.5 / 7.3, softmax_backward
    # float64 7.0 / 6.3 / 5.7 / 6.3.
    COLUMN_CHUNK_BYTES = 1 << 20
    # Rows of at least this many bytes take a column_lead in cols (shorter
    # rows gain nothing from it, and it costs them a chunk: (100000, 16)
    # float32 softmax along axis 0, 0.93x).
    COLUMN_LEAD_MIN_BYTES = 1024
    # Bytes of a chunk of cols_pipelined_run, which keeps two in L2; also
    # the chunk use_bands weighs against bands for the forward functions.
    # 2^19 on an AMD EPYC host.  On an Intel Xeon host (2 MB of L2 per
    # core), 2^18 against 2^19, axis=0, 2 threads, side by side: softmax
    # (1000, 8192) float32 1.51x (out=) / 1.49x, float64 1.21x, (200,
    # 65536) float64 1.28x, (512, 16384) float32 1.14x, (100, 100000)
    # 1.13x; (2000, 4096) 0.98x; log_softmax and logsumexp 0.99 to 1.03x.
    # 2^20: softmax (1000, 8192) float32 0.95x (out=) / 1.13x.
    PIPE_CHUNK_BYTES = 1 << 18
    MAX_COLUMN_CHUNK = 1024
    # cols_bands (see use_bands): the smallest slab it takes (each slab costs
    # two or three parallel regions: (100, 1000, 300) float32 along axis 1,
    # slabs of 1.2 MB, softmax_backward took 6.9 ms in chunks, 13.7 in
    # bands), the longest chunk rows it replaces, the most columns summed at
    # once (the partial sums of 2 threads, 4 x 8192 doubles, stay in L2) and
    # the columns that share a choice of exp.
    BAND_MIN_BYTES = 1 << 22
    BAND_MIN_STRIP = 4096
    BAND_MIN_STRIP_FORWARD = 512
    BAND_MIN_STRIP_MASKED = 2048
    BAND_MIN_STRIP_PLAIN = 4096
    BAND_MIN_BYTES_PLAIN = 1 << 19
    BAND_COLUMNS = 8192
    BAND_PLAIN_MIN_BYTES = 2048
    BAND_PIECE = 1024
    # softmax_backward's band rows of at least this many bytes are written
    # with streaming stores where the result streams (streams_into), in
    # chunks from out's cache lines.  Along axis 0, out=, 2 threads, side by
    # side with plain stores: rows of 64 KB ((1000, 8192) float64) 1.20x,
    # 32 KB (float32) 1.28x, (4096, 4096) 1.10 / 1.14x, 16 KB ((2000, 4096)
    # float32) 1.26x, 4 KB ((10000, 512) float64) 1.26x, 2 KB 1.08 to 1.15x;
    # but 1 KB 0.99 to 1.01x and 256 to 512 bytes 0.92 to 0.93x (a row's
    # first and last lines, written in part with plain stores, are a large
    # share of short rows).
    BAND_STREAM_MIN_BYTES = 2048
    # Rows ahead that the column kernels' first pass prefetches: their strips
    # (16 cache lines, rows 32 KB apart) defeat the hardware prefetchers.
    # softmax (1000, 8192) axis=0, out=, 2 threads, ms without / with 8 rows:
    # float32 4.18 / 3.61, float64 7.75 / 7.32; logsumexp float32 2.56 /
    # 2.05; log_softmax_backward float32 4.00 / 3.48 (4 to 32 rows: within 2%).
    PREFETCH_ROWS = 8
    # Rows of this many bytes (the row path) prefetch the next row as their
    # first pass reads them, a few cache lines ahead at a time: without it,
    # the first pass of rows of 2 KB and more stalled on memory (per byte,
    # rows of 2 KB took 1.7x as long as rows of 1.75 KB, on one thread).
    # Arrays of 64 MB, out=, 2 threads, speed-up: rows of 2 KB, softmax
    # float64 1.45, softmax_backward float64 1.79, float32 1.23,
    # log_softmax_backward float32 1.54; 4 KB: 1.0 to 1.38; 8 to 16 KB: 0.96
    # to 1.25.  Shorter rows lost (backward passes 0.70 to 0.98 at 0.5 to 1.5
    # KB), as did rows of 32 KB (0.90 to 1.04).  (Measured on an AMD EPYC
    # host; masked rows and softmax_backward keep this.)
    PREFETCH_ROW_MIN_BYTES = 2048
    PREFETCH_ROW_MAX_BYTES = 16384
    # Unmasked softmax, log_softmax, logsumexp and log_softmax_backward rows
    # of this many bytes split the prefetch of the next row between their
    # first two passes: the first (the max) prefetches its first half, the
    # pass of the exps its second half (fs_prefetch_second_half), so that
    # memory stays busy while the exps are computed.  Against the prefetch
    # in the first pass alone (or none, outside 2 to 16 KB), on an Intel
    # Xeon host (AVX-512), 16 to 64 MB, out=, 2 threads, side by side,
    # softmax / log_softmax / logsumexp / log_softmax_backward: rows of 800
    # B (float64) 1.19 / 1.21 / 1.11 / 1.13x; 1.2 KB (float32) 1.05 / 1.27
    # / 1.11 / 1.13x; 4 KB (float32) 1.09 / 1.05 / 1.13 / 0.99x; 8 KB 1.06
    # to 1.07 / 0.99 to 1.11 / 1.08 to 1.12 / 0.99 to 1.13x; 16 KB
    # (float32) 1.10 / 1.11 / 1.14 / 1.05x; 32 to 128 KB (not softmax)
    # 1.04 to 1.09 / 1.12 to 1.16 / 1.06 to 1.07x.  In the experiments
    # before: rows below 512 bytes lost (log_softmax_backward 0.95x at 400
    # B), as did softmax above 16 KB (0.94 to 0.98x: its pass of the exps
    # also writes the row, which its last pass reads again), and
    # softmax_backward, whose second pass is a multiply, gained nothing
    # (0.96 to 1.07x).  log_softmax and logsumexp take it up to
    # PREFETCH_SPLIT_MAX_BYTES_LOG: same host, side by side, 2 threads,
    # rows of 160 KB to 512 KB ((32, 40000) to (64, 131072) float32, (32,
    # 50257) to (64, 65536) float64, 5 to 64 MB), log_softmax 1.04 to 1.09x
    # up to 400 KB and 0.98 to 1.00x at 512 KB, logsumexp 1.08 to 1.15x;
    # rows of 1 MB lost (logsumexp 0.91 to 0.93x), as did
    # log_softmax_backward above 128 KB (201 KB float32 0.98x, 402 KB
    # float64 0.89x).
    PREFETCH_SPLIT_MIN_BYTES = 512
    PREFETCH_SPLIT_MAX_BYTES = 131072
    PREFETCH_SPLIT_MAX_BYTES_LOG = 1 << 19
    # Bytes of a piece of a long row split across threads (rows_split_local):
    # it stays in L2 between the piece's passes.
    SPLIT_PIECE_BYTES = 1 << 18
    # The largest |row max| of unshifted exps (plain_exps): exp(40) = 2.4e17
    # (float32: fs_expf_neg holds to 43), exp(600) = 3.8e260 (float64: to 664).
    PLAIN_MAX_F32 = 40
    PLAIN_MAX_F64 = 600
    # band_max_sum_plain checks its maxima against PLAIN_MAX every this many
    # rows (a multiple of its 4); plain_sample looks at this many elements.
    PLAIN_CHECK_ROWS = 32
    PLAIN_SAMPLE = 1 << 14
    # Results of at least this many bytes (whose call's arrays exceed a third
    # of the last-level cache: see streams) are written with streaming stores
    # (fs_platform.h), through a stack buffer of STREAM_CHUNK elements (in
    # L1), by the kernels that are memory-bound: float32 sigmoid,
    # sigmoid_backward and softmax_backward.  Measured on results of 16 to
    # 128 MB ((2048, 2048) to (4096, 4096), 1e7 elements), out=, 2 threads,
    # medians of 30 interleaved pairs: 1.04 to 1.21x as fast as plain
    # stores.  On 8 MB results they were slower (0.86 to 0.97x).  Where exps
    # and logs dominate, the extra pass through the buffer cost more than
    # streaming saved: float64 sigmoid 0.94 to 1.03x, log_sigmoid 0.95 to
    # 0.97x, log_softmax 0.90 to 1.02x, log_softmax_backward 0.83 to 0.99x,
    # and softmax (its exps in a row buffer, streamed out scaled) 0.94 to
    # 1.06x.
    STREAM_MIN_BYTES = 1 << 24
    STREAM_CHUNK = 1024
    # Larger results, allocated for the call, come with new pages: glibc's
    # malloc maps every block above its largest mmap threshold (32 MB on
    # 64-bit systems) anew, and reuses smaller ones (see streams_into).  Other
    # allocators (or MALLOC_MMAP_THRESHOLD_) may differ: that changes speed
    # only, never results.
    FRESH_PAGES_BYTES = 1 << 25

# Settable (set_min_work_per_thread) so that tests can run the parallel and
# split-row paths on small arrays.
cdef Py_ssize_t min_work_per_thread = MIN_WORK_PER_THREAD
# Settable (set_stream_min_bytes) so that tests can run the streaming paths
# on small arrays.
cdef Py_ssize_t stream_min_bytes = STREAM_MIN_BYTES
# Settable (set_balance_min_bytes) so that tests can run the balanced loops
# on small arrays.
cdef Py_ssize_t balance_min_bytes = BALANCE_MIN_BYTES
# One last-level cache (0 where unknown), and the working set above which
# results stream (see streams): a third of it.
cdef Py_ssize_t llc_bytes = fs_llc_bytes()
cdef Py_ssize_t stream_cache_bytes = llc_bytes // 3
cdef int band_mode = 0
# Whether softmax's split long rows take their exps twice (rows_split_local)
# rather than the row's max first (rows_split): see FS_CHEAP_EXPS and
# fs_cpu_amd.  Settable (set_cheap_exps) so that tests run both paths.
cdef bint cheap_exps = FS_CHEAP_EXPS and not fs_cpu_amd()
# Whether the backward passes' rows and the masked rows prefetch the next row
# (see rows_prefetch and row_shift): not on AMD CPUs that run the AVX-512
# build (Zen 4 and later).
cdef bint next_row_prefetch = not (FS_AVX512_BUILD and fs_cpu_amd())


ctypedef enum Op:
    SOFTMAX
    LOG_SOFTMAX
    LOGSUMEXP
    SOFTMAX_BACKWARD
    LOG_SOFTMAX_BACKWARD


# ---------------------------------------------------------------------------
# Scalar helpers


cdef inline floating exp_shifted(floating v, double shift) noexcept nogil:
    """exp(v - shift), with v - shift exact (shift is a max of the data, so a
    value of the same dtype)."""
    if floating is float:
        # In float32 lanes: twice the throughput of double.  1.08 ulp, and
        # the sums stay in double.
        return fs_expf_diff_nonpositive(v, <float>shift)
    else:
        return fs_exp_diff_nonpositive(v, shift)


cdef inline floating exp_shifted_sum(floating v, double shift) noexcept nogil:
    """exp_shifted for exps that are only summed: float32 results below
    2^-126 are 0, not subnormal (see FS_EXPF_SUM_MIN in fs_math.h: the
    same bits above, and subnormal results cost x86 a slow path: float32
    logsumexp of (8192, 1000) rows of normal numbers times 30, whose x - max
    often falls in [-104, -87.3], ran at a third of its usual speed)."""
    if floating is float:
        return fs_expf_diff_nonpositive_sum(v, <float>shift)
    else:
        return fs_exp_diff_nonpositive(v, shift)


cdef inline floating exp_stored(floating v, double shift, bint exact) noexcept nogil:
    """exp_shifted for exps that are stored (softmax's results), with exact
    for data whose float32 results may be subnormal: the same bits from
    fs_expf_diff_nonpositive_exact, which forms them without the slow path
    of a multiply that rounds to a subnormal number (a loop whose arguments
    had a quarter of their x - max at -95 took 0.21 ns per element, against
    0.53), but costs 36% more on other data (see subnormal_exps_likely)."""
    if floating is float:
        if exact:
            return fs_expf_diff_nonpositive_exact(v, <float>shift)
        return fs_expf_diff_nonpositive(v, <float>shift)
    else:
        return fs_exp_diff_nonpositive(v, shift)


cdef inline bint subnormal_exps_likely(const floating* x, Py_ssize_t size) noexcept nogil:
    """Whether float32 softmax of x should take its exps with exp_stored's
    exact form: whether the first SUBNORMAL_SAMPLE elements span more than
    -FS_EXPF_SUM_MIN (87.33), so that some x - max may fall where exp(x -
    max) is subnormal ([-104, -87.3]).  -inf counts as +inf (its exp is 0
    either way, at no cost), and NaN compares false.  The answer changes
    the speed only: both forms give the same bits.  Float32 normal numbers
    times 30 (many x - max fall there), out=, 2 threads, against the
    multiply alone, side by side: rows (8192, 1000) 1.63x the speed, (32,
    50257) 1.98x, (4, 1000000) 1.50x, (2048, 300) 1.85x, (65536, 10)
    1.52-1.68x, (16384, 40) 1.43-1.55x; columns (axis 0) (1000, 8192)
    1.79x, (4096, 4096) 1.51x, (200, 65536) 1.88x, (20000, 256) 1.76x,
    (64, 300, 100) axis 1 1.33x; times 3 (none there): 0.97 to 1.06x (rows
    of 40: 0.97, code layout).  Masked (where=) rows take it too (masked-out
    entries count in the sample: speed only); masked split rows and masked
    columns keep the multiply."""
    cdef float lo[MAX_LANES]
    cdef float hi[MAX_LANES]
    cdef float v
    cdef Py_ssize_t b, i, l, nv
    cdef bint wide = False
    if floating is double:
        return False
    size = min(size, <Py_ssize_t>SUBNORMAL_SAMPLE)
    nv = size - size % MAX_LANES
    for l in range(MAX_LANES):  # lanes: the loops vectorize
        lo[l] = INFINITY
        hi[l] = -INFINITY
    for b in range(nv // MAX_LANES):
        i = b * MAX_LANES
        for l in range(MAX_LANES):
            v = x[i + l]
            hi[l] = v if v > hi[l] else hi[l]
            v = v if v != -INFINITY else INFINITY
            lo[l] = v if v < lo[l] else lo[l]
    for i in range(nv, size):
        v = x[i]
        hi[0] = v if v > hi[0] else hi[0]
        v = v if v != -INFINITY else INFINITY
        lo[0] = v if v < lo[0] else lo[0]
    v = fs_max32_f(hi)
    for l in range(MAX_LANES):
        wide |= lo[l] - v < FS_EXPF_SUM_MIN
    return wide


cdef inline floating exp_plain(floating v) noexcept nogil:
    """exp(v) for v <= PLAIN_MAX (or NaN; -inf gives 0): the lean exps
    without the exact difference (1.05 float32 ulp on [-104, 43], 1.08 ulp
    on [-746, 664]: check_fs_math.c); they are only summed, so float32
    results below 2^-126 are 0 (see exp_shifted_sum)."""
    if floating is float:
        return fs_expf_neg_sum(v)
    else:
        return fs_exp_neg(v)


cdef inline bint plain_exps(const floating* dtype_of, double row_max) noexcept nogil:
    """Whether a row whose max is row_max may take its exps unshifted for
    logsumexp and log_softmax, exp(x) instead of exp(x - max): the shifted
    form takes the exact difference x - max, a TwoSum of 5 of the exp's 22
    operations.  It may when no exp overflows (|max| <= PLAIN_MAX, and the
    sum stays far from overflow) and every exp that matters is a normal
    number: the sum is at least exp(max) >= exp(-PLAIN_MAX), and the
    subnormal exps (of x below -87 float32, -708 float64) add at most
    n * 2^-149 (2^-1074) to it, far below its eps.  The lean exps (1.05
    float32 ulp, 1.08 ulp float64 on these ranges) err as much as the
    shifted ones (1.08, 1.06).  The sum is then taken relative to the max's
    own term (plain_log_sum), so that this term stays exactly 1, and
    log_softmax keeps its exact x - max (log_softmax_value).  Rows of 131 to
    50257, out=, 2 threads, old and new builds side by side: logsumexp
    float32 1.04 to 1.19x, float64 1.02 to 1.15x; log_softmax float32 1.08
    to 1.22x, float64 1.06 to 1.15x; but rows of 129 float64 (1032 bytes,
    where softmax, whose code did not change, moved by 0.93 to 1.02x too):
    0.98x and 0.94x.  softmax keeps the shifted exps: its result needs each
    exp, and a max whose exp is exactly 1 keeps softmax <= 1 and a lone
    entry's result exactly 1 (scaling in double to keep them measured 0.95
    to 1.09x).  The short rows and the split long rows keep them too, and so
    do the column chunks: a choice per column would cost the branch-free
    loops, and one per chunk would make results depend on the chunk width
    (and so on the thread count).  The bands of columns take them, with one
    choice per group of columns made after a pass that finds the maxima and
    sums the unshifted exps together (band_max_sum_plain)."""
    cdef double limit = PLAIN_MAX_F32 if floating is float else PLAIN_MAX_F64
    return -limit <= row_max <= limit


cdef inline double plain_log_sum(const floating* x, Py_ssize_t n, double row_max,
                                 Py_ssize_t ahead=0) noexcept nogil:
    """log of the sum of exp(x - max) over a row of n, from the sum of its
    unshifted exp_plain(x) (see plain_exps): log(1 + (sum - e) / exp(max)),
    where e = exp_plain(max) is the very term the max added to the sum (the
    vectorized and scalar exps are the same operations, so the same bits)
    and exp(max) is exp_of's (2^-32 relative float32, 0.76 ulp float64).
    So the max's term is exactly 1, as in the shifted form: a row whose
    other exps are all 0 gives exactly log(1) = 0 (logsumexp exactly its
    max, log_softmax exactly 0), and never below 0 (sum >= e; a negative
    difference, which a compensated sum's last bit could give, is clamped),
    so logsumexp >= max and log_softmax <= 0.  A NaN sum stays NaN.  Each
    other term errs by its own exp's error only, as in the shifted form.
    Dividing by e instead would add the max's own rounding error to every
    other term's: over every float32 x with a normal exp(x) in [-87.3, 43],
    fs_expf_neg errs by +0.761 to -0.715 eps relative, so float32 logsumexp
    of a max and many near ties could reach 0.761 + 0.715 + 0.5 (rounding)
    = 1.98 eps of its 2; this way, 1.26.  The max's exps are taken after the
    sum (before it: rows of 129 to 200 float32 1.01 to 1.08x against 1.04
    to 1.22x); log1p instead of log(1 + r) cost rows of 200 float32 12%, and
    1 + r loses only 2^-53 of r.  ahead: see fs_prefetch_second_half in fs_platform.h."""
    return log(plain_relative_sum(<floating>row_max, piece_sum_exps(x, n, 0.0, True, ahead)))


cdef inline double plain_relative_sum(floating row_max, double total) noexcept nogil:
    """The sum of exp(x - max) from the sum of the unshifted exp_plain(x),
    total: 1 + (total - e) / exp(max), e = exp_plain(max) (see
    plain_log_sum), at least 1; NaN for a NaN total."""
    cdef double r = (total - exp_plain(row_max)) / exp_of(row_max)
    return 1.0 + (0.0 if r < 0.0 else r)


cdef inline floating log1p_unit(floating e) noexcept nogil:
    """log(1 + e) for 0 <= e <= 1, in the data's precision."""
    if floating is float:
        return fs_log1p_unit_f(e)
    else:
        return fs_log1p_unit(e)


cdef inline floating log_sigmoid_exp(floating v) noexcept nogil:
    """exp(-|v|) for log_sigmoid: the result is in [0, 1], so float32 lanes
    lose nothing to range.  Both dtypes take the lean exp (1.06 ulp):
    log_sigmoid stays within 0.88 eps * max(|ref|, 1) of its 4 eps bound for
    float64, and within 0.89 eps * max(|ref|, 1) (1.24 eps relative) of its
    2 eps bound for float32, as with the compensated fs_expf_small, in 10%
    less time (measured against long double on 2.4e7 arguments each: see
    fs_math.h).  float32 keeps e normal where it cannot change the result
    (fs_log_sigmoid_exp_f)."""
    if floating is float:
        return fs_log_sigmoid_exp_f(v)
    else:
        return fs_exp_neg(v if v < 0 else -v)


cdef inline floating sigmoid_exp(floating v) noexcept nogil:
    """exp(-|v|), the first step of sigmoid(v) (at most 1.48 eps float32,
    2.32 ulp float64 in all: check_fs_math.c)."""
    if floating is float:
        return fs_sigmoid_exp_f(v)
    else:
        return fs_sigmoid_exp(v)


cdef inline floating sigmoid_exp_wide(floating v) noexcept nogil:
    """sigmoid_exp for data with v above 87.33 (see SIGMOID_WIDE)."""
    if floating is float:
        return fs_sigmoid_exp_wide_f(v)
    else:
        return fs_sigmoid_exp(v)


cdef inline floating sigmoid_from_exp(floating v, floating e) noexcept nogil:
    """sigmoid(v) from e = sigmoid_exp(v), in the data's precision."""
    if floating is float:
        return fs_sigmoid_from_exp_f(v, e)
    else:
        return fs_sigmoid_from_exp(v, e)


cdef inline double exp_of(floating v) noexcept nogil:
    """exp(v) in double for any v (log_softmax_backward takes whatever y it is
    given: exp(100) * a tiny sum is still a float32 number)."""
    if floating is float:
        return fs_exp_f32(v)
    else:
        return fs_exp(v)


cdef inline floating log_softmax_value(floating v, double shift, double log_sum) noexcept nogil:
    """(v - shift) - log_sum, keeping v - shift exact: log_softmax([0, -1e4])
    is exactly [0, -1e4]."""
    cdef double lo, hi
    if floating is float:
        return <float>((<double>v - shift) - log_sum)
    else:
        hi = fs_two_diff(v, shift, &lo)
        return (hi - log_sum) + lo


cdef inline void add_to(double* total, double* comp, double v, bint compensated) noexcept nogil:
    """total += v, Kahan-compensated for float64 data; plain for float32 data,
    whose sums in double lose at most n * 2^-53, far below float32's eps.
    The compensated step is fs_kahan_add_fast (vectorizable): right while the
    total is finite, which sums of exps always are; sums of input data go
    through plain_if_nonfinite."""
    if compensated:
        fs_kahan_add_fast(total, comp, v)
    else:
        total[0] += v


cdef inline double plain_if_nonfinite(double total, const floating* e, const floating* y,
                                      Py_ssize_t n, Py_ssize_t stride) noexcept nogil:
    """total, or, when it is +-inf or NaN (an overflow, or an inf or NaN term,
    where a compensated sum gives NaN), the plain sum of e[j * stride] (times
    y[j * stride] when y is given): +inf, -inf or NaN as plain summation
    gives them.  Rare path."""
    cdef double plain = 0.0
    cdef Py_ssize_t j
    if total - total == 0.0:
        return total
    for j in range(n):
        plain += e[j * stride] if y == NULL else fs_product(e[j * stride], y[j * stride])
    return plain


cdef inline double lanes_total(double* s, double* c) noexcept nogil:
    """Sum of the LANES compensated partial sums (lane l holds s[l] - c[l]):
    lanes folded pairwise with TwoSum (their rounding errors moved into the
    compensations) down to FS_LANES, then fs_lanes_total."""
    cdef double err
    cdef Py_ssize_t half = LANES // 2, l
    while half >= FS_LANES:
        for l in range(half):
            s[l] = fs_two_sum(s[l], s[l + half], &err)
            c[l] = (c[l] + c[l + half]) - err
        half //= 2
    return fs_lanes_total(s, c)


cdef inline double lanes_result(double* s, double* c, bint compensated) noexcept nogil:
    """lanes_total for compensated lanes; plain lanes (float32 data, c all 0)
    summed in registers (fs_sum32)."""
    if compensated:
        return lanes_total(s, c)
    return fs_sum32(s)


cdef inline void lanes_zero(double* s, double* c) noexcept nogil:
    cdef Py_ssize_t l
    for l in range(LANES):
        s[l] = 0.0
        c[l] = 0.0


cdef inline Py_ssize_t balance_chunk(Py_ssize_t tasks, int nt) noexcept nogil:
    """Tasks per chunk of a balanced loop (see BALANCE_MIN_BYTES)."""
    return max(tasks // (nt * BALANCE_CHUNKS), 1)


cdef inline int threads_for(Py_ssize_t work, int nthreads) noexcept nogil:
    """Threads worth using for `work` elements (see work_of): no more than
    asked for."""
    cdef Py_ssize_t useful = work // min_work_per_thread
    if useful < 1:
        return 1
    return nthreads if useful >= nthreads else <int>useful


cdef inline Py_ssize_t work_of(Py_ssize_t elements, bint exps, Py_ssize_t itemsize) noexcept nogil:
    """The work of `elements` for threads_for: a float64 element with exps
    or logs counts as two (it takes about twice the time of a float32 one);
    the memory-bound kernels (softmax_backward, sigmoid_backward) count
    elements.  Alternated processes, medians of 6, us, float64, one thread
    -> two: softmax (12, 1000) 39 -> 21, (16, 1000) 51 -> 31, (3000, 5) 57
    -> 38; log_softmax_backward (64, 100) 31 -> 19; but sigmoid_backward,
    counted so, (1, 12000) 7 -> 9.  rows() also takes no more threads than
    rows."""
    return 2 * elements if exps and itemsize == 8 else elements


cdef inline Py_ssize_t row_work_of(Py_ssize_t elements, bint exps,
                                   Py_ssize_t itemsize) noexcept nogil:
    """work_of for the row functions, whose elements with exps cost more
    than an element-wise one (a max, a sum and a result each): twice as
    much for float32, four times for float64.  Intel Xeon (AVX-512), out=,
    medians of 400 calls over three rounds, us, one thread / two: float64
    (4, 1000) softmax 4.7 / 4.4, log_softmax 7.4 / 6.0; (8, 1000) log_softmax
    11.7 / 8.7; (64, 100) softmax 9.6 / 6.8; float32 (16, 500) log_softmax
    5.4 / 4.6, logsumexp 6.0 / 5.4, but softmax 5.2 / 5.4."""
    if not exps:
        return elements
    return 4 * elements if itemsize == 8 else 2 * elements


cdef inline Py_ssize_t to_alignment(const void* p, Py_ssize_t itemsize) noexcept nogil:
    """Elements from p to the next 64-byte boundary (0 if p is on one, or if p
    is not even aligned to its items).  Vector loops start there: NumPy's
    large arrays begin 16 bytes past a boundary, and loads that straddle cache
    lines cost up to 1.6x the time of a whole streaming loop here
    (sigmoid_backward 0.93 -> 0.59 ms on 8.2e6 float32 once aligned)."""
    cdef size_t address = <size_t>p
    if address % itemsize:
        return 0
    return <Py_ssize_t>((64 - address % 64) % 64) // itemsize


cdef inline bint streams(Py_ssize_t out_bytes, int arrays) noexcept nogil:
    """Whether a result of out_bytes, written by a kernel that reads and
    writes `arrays` arrays of its size, is written with streaming stores:
    from STREAM_MIN_BYTES on, where those arrays together exceed a third of
    the last-level cache.  Below that, plain stores leave the result in the
    cache, and the call after (or the next pass over it) finds it there;
    streaming stores send it to memory.  On an Intel Xeon host whose one L3
    reads 480 MB (a cloud VM's share of it is less: measured, the crossover
    lies between 96 and 192 MB), out=, 2 threads, medians of 3 rounds of
    alternating calls, plain speed-up over streamed: float32 sigmoid 16 MB
    1.49x, 40 MB 1.48x, 64 MB 1.21x, 128 MB 0.91x, 256 MB 0.83x;
    softmax_backward float32 16 MB 1.18x, 31 MB 1.15x, 40 MB 0.93x, 64 MB
    0.77x, float64 62-64 MB 0.78-0.85x; sigmoid_backward float32 16 MB 1.12x,
    31 MB 1.06x, float64 62-64 MB 0.85-0.87x.  On an AMD EPYC core complex
    (32 MB of L3) every result from STREAM_MIN_BYTES on still streams, as
    measured there (see STREAM_CHUNK).  arrays = 0: whatever the cache, for
    the column kernels (axis=0 (1000, 8192) float32, 32 MB, with the rule:
    softmax 0.98x, softmax_backward 0.97x)."""
    return out_bytes >= stream_min_bytes and (arrays == 0
                                              or out_bytes * arrays > stream_cache_bytes)


cdef inline bint streams_into(Py_ssize_t out_bytes, bint fresh, int arrays) noexcept nogil:
    """streams() for the memory-bound kernels, unless out is fresh (allocated
    for this call) and larger than FRESH_PAGES_BYTES: then its pages are new,
    and the page faults that map them zero them, which leaves their lines in
    cache; plain stores write into those lines, streaming stores bypass them
    and were slower.  Without out=, 2 threads, ms, streamed / plain, medians
    of 3 rounds of alternating calls: float64 sigmoid_backward (1, 1e7) 7.6 /
    6.8, (4096, 4096) 12.3 / 10.7, (8192, 1000) 6.2 / 5.5, float32 (4096,
    4096) 6.1 / 5.7; softmax_backward float64 (4096, 4096) 12.5 / 11.4,
    float32 (1, 1e7) 5.3 / 4.9.  Smaller fresh results are usually recycled
    memory, where streaming stores stay faster (32 MB, float32 (8192, 1000):
    sigmoid_backward 1.54 / 1.73, sigmoid 1.02 / 1.15), as they do into an
    existing out=.  softmax and log_softmax along a non-last axis stream into
    fresh results too: their pipelined chunks were faster than the chunks
    that store plainly ((1000, 8192) axis=0 float64 softmax 10.8 / 11.8)."""
    return streams(out_bytes, arrays) and not (fresh and out_bytes > FRESH_PAGES_BYTES)


cdef inline void stream_copy(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fs_stream_copy_f(dst, src, n)
    else:
        fs_stream_copy(dst, src, n)


# ---------------------------------------------------------------------------
# Pieces of a row: x[0:n] contiguous.  A whole row is one piece; a long row
# split across threads is several, combined by rows_split.


cdef inline void pad32(const floating* x, Py_ssize_t w, floating* xb) noexcept nogil:
    """xb[0:32] = x[0:w] and -inf after (w <= 32 = LANES = MAX_LANES)."""
    if floating is float:
        fs_pad32_f(x, w, xb)
    else:
        fs_pad32(x, w, xb)


cdef inline void copy32(floating* dst, const floating* src, Py_ssize_t w) noexcept nogil:
    """dst[0:w] = src[0:w], w <= 32 (fs_copy32: a loop became `rep movsq`)."""
    if floating is float:
        fs_copy32_f(dst, src, w)
    else:
        fs_copy32(dst, src, w)


cdef inline void max_padded(const floating* x, Py_ssize_t w, floating* m) noexcept nogil:
    """Fold x[0:w] (w <= MAX_LANES) into the max lanes m: padded with -inf to
    one whole lane loop, so that a row's head and tail run vectorized."""
    cdef floating xb[MAX_LANES]
    cdef Py_ssize_t l
    pad32(x, w, xb)
    for l in range(MAX_LANES):
        m[l] = xb[l] if xb[l] > m[l] else m[l]


cdef inline double piece_max(const floating* x, Py_ssize_t n, Py_ssize_t ahead=0) noexcept nogil:
    """Max of x (-inf for none; NaN is skipped: comparisons with NaN are false,
    but NaN still reaches exp later and makes the sum NaN).  ahead: prefetch
    the first half of the n elements that far on as it goes (the pass after
    prefetches the second half: see PREFETCH_SPLIT_MIN_BYTES)."""
    cdef floating m[MAX_LANES]
    cdef Py_ssize_t h = min(to_alignment(x, sizeof(floating)), n)
    cdef const floating* xa = x + h  # on a 64-byte boundary
    cdef Py_ssize_t b, j, l, na = n - h, nv = na - na % MAX_LANES
    for l in range(MAX_LANES):
        m[l] = -INFINITY
    for b in range(nv // MAX_LANES):
        j = b * MAX_LANES
        if ahead and 2 * j < n:
            fs_prefetch_lines(xa + j + ahead, MAX_LANES * sizeof(floating))
        for l in range(MAX_LANES):
            m[l] = xa[j + l] if xa[j + l] > m[l] else m[l]
    if nv < na:  # the tail
        max_padded(xa + nv, na - nv, m)
    if h > 0:  # the head before the boundary
        max_padded(x, h, m)
    if floating is float:
        return fs_max32_f(m)
    else:
        return fs_max32(m)


cdef inline double piece_max_masked(const floating* x, const mask_t* mask, Py_ssize_t n,
                                    bint* found, Py_ssize_t ahead=0) noexcept nogil:
    """Max of the unmasked entries (NaN skipped, as piece_max); *found tells
    whether there is any.  Rows of EXP_BLOCK and more a block at a time: the
    entries into a buffer with the masked-out ones as -inf, then their max
    in MAX_LANES lanes.  One loop of select-and-max spent its time moving
    mask bits between registers: (8192, 1000), where= 90% True, out=, 2
    threads, speed-up: softmax float32 1.29x, float64 1.12x; logsumexp
    1.32x, 1.22x.  Shorter rows keep that loop (and their tail goes through
    the buffer): the buffer's extra pass cost rows of 100 float32 0.87x.
    ahead: as piece_max, for x and the mask.  The masked kernels read every
    element whatever its mask (here and in the exp and write passes): with
    `x[j] if mask[j] else ...` gcc loaded x with masked vector loads, which
    cost more than the blends.  Together, side by side (where= 90% True,
    out=, 2 threads): (8192, 1000) softmax 1.65-1.73x float32, 1.52-1.60x
    float64, logsumexp 1.94-2.04x; (4096, 4096) 1.17-1.95x; (16384, 200)
    float32 1.35-1.47x, float64 0.97-1.03x."""
    cdef floating m[MAX_LANES]
    cdef floating buf[EXP_BLOCK]
    cdef mask_t any_unmasked = 0
    cdef Py_ssize_t j0 = 0, b, i, l, w, wv
    cdef floating v
    for l in range(MAX_LANES):
        m[l] = -INFINITY
    if n < EXP_BLOCK:  # short rows: the buffer's extra pass cost more
        wv = n - n % MAX_LANES
        for b in range(wv // MAX_LANES):
            for l in range(MAX_LANES):
                v = x[b * MAX_LANES + l]
                v = v if mask[b * MAX_LANES + l] else -INFINITY
                m[l] = v if v > m[l] else m[l]
        j0 = wv
    while j0 < n:
        w = min(<Py_ssize_t>EXP_BLOCK, n - j0)
        if ahead:
            fs_prefetch_lines(x + j0 + ahead, w * sizeof(floating))
            fs_prefetch_lines(mask + j0 + ahead, w)
        for i in range(w):
            v = x[j0 + i]
            buf[i] = v if mask[j0 + i] else -INFINITY
        wv = w - w % MAX_LANES
        for b in range(wv // MAX_LANES):
            for l in range(MAX_LANES):
                m[l] = buf[b * MAX_LANES + l] if buf[b * MAX_LANES + l] > m[l] else m[l]
        for i in range(wv, w):
            m[0] = buf[i] if buf[i] > m[0] else m[0]
        j0 += w
    # Whether any entry is unmasked, in a loop of its own: inside a loop of
    # the max, this byte reduction kept gcc from vectorizing it.
    for i in range(n):
        any_unmasked |= mask[i]
    found[0] = any_unmasked != 0
    if floating is float:
        return fs_max32_f(m)
    else:
        return fs_max32(m)


cdef inline void lanes_add(double* s, double* c, const floating* e, Py_ssize_t w,
                           bint compensated) noexcept nogil:
    """Add e[0:w] into the lanes (lane l takes e[l], e[l + LANES], ...),
    Kahan-compensated for float64 data."""
    cdef Py_ssize_t b, i, l, wv = w - w % LANES
    for b in range(wv // LANES):
        i = b * LANES
        for l in range(LANES):
            add_to(&s[l], &c[l], e[i + l], compensated)
    for i in range(wv, w):
        add_to(&s[0], &c[0], e[i], compensated)


cdef inline void exp_add_padded(const floating* x, floating* out, Py_ssize_t w, double shift,
                                bint plain, bint exact, double* s, double* c) noexcept nogil:
    """exp(x[j] - shift) (plain: exp(x[j])) for j < w <= LANES into out
    (unless NULL: then exp_shifted_sum; out may be x) and into the sum
    lanes: padded with -inf (whose exp is 0) to one whole
    lane loop, so that a row's head and tail run vectorized, not as scalar
    exps (softmax on 8192 rows of 129 float32: 0.56 -> 0.30 ms)."""
    cdef floating xb[LANES]
    cdef floating eb[LANES]
    cdef Py_ssize_t l
    pad32(x, w, xb)
    if plain:  # (see plain_exps)
        for l in range(LANES):
            eb[l] = exp_plain(xb[l])
    elif out == NULL:
        for l in range(LANES):
            eb[l] = exp_shifted_sum(xb[l], shift)
    elif exact:
        for l in range(LANES):
            eb[l] = exp_stored(xb[l], shift, True)
    else:
        for l in range(LANES):
            eb[l] = exp_shifted(xb[l], shift)
    if out != NULL:
        copy32(out, eb, w)
    for l in range(LANES):
        add_to(&s[l], &c[l], eb[l], floating is double)


cdef inline double piece_exp_store_sum(const floating* x, floating* out, Py_ssize_t n,
                                       double shift, bint exact,
                                       Py_ssize_t ahead=0) noexcept nogil:
    """out[j] = exp(x[j] - shift) (out NULL: only the sum; exact: see
    exp_stored); returns the sum of the exps (in double).  ahead: see
    fs_prefetch_second_half in fs_platform.h."""
    cdef floating e[EXP_BLOCK]
    cdef double s[LANES]
    cdef double c[LANES]
    cdef Py_ssize_t j0, i, w
    lanes_zero(s, c)
    # The head before x's first 64-byte boundary, then whole blocks of LANES
    # elements from it, then the tail.
    j0 = min(to_alignment(x, sizeof(floating)), n)
    if j0 > 0:
        exp_add_padded(x, out, j0, shift, False, exact, s, c)
    while n - j0 >= LANES:
        w = min(EXP_BLOCK, (n - j0) - (n - j0) % LANES)
        if ahead:
            fs_prefetch_second_half(x + ahead, sizeof(floating), n, j0, j0 + w, LANES)
        if out != NULL and <const floating*>out != x:
            # Straight into out (the vectorizer's overlap check passes).
            if exact:
                for i in range(w):
                    out[j0 + i] = exp_stored(x[j0 + i], shift, True)
            else:
                for i in range(w):
                    out[j0 + i] = exp_shifted(x[j0 + i], shift)
            lanes_add(s, c, out + j0, w, floating is double)
        else:
            # In place: through the buffer, or the loop would run scalar.
            if exact:
                for i in range(w):
                    e[i] = exp_stored(x[j0 + i], shift, True)
            else:
                for i in range(w):
                    e[i] = exp_shifted(x[j0 + i], shift)
            if out != NULL:
                for i in range(w // LANES):  # w is a multiple of LANES
                    copy32(out + j0 + i * LANES, e + i * LANES, LANES)
            lanes_add(s, c, e, w, floating is double)
        j0 += w
    if j0 < n:
        exp_add_padded(x + j0, NULL if out == NULL else out + j0, n - j0, shift, False, exact,
                       s, c)
    return lanes_result(s, c, floating is double)


cdef inline double piece_sum_exps(const floating* x, Py_ssize_t n, double shift,
                                  bint plain, Py_ssize_t ahead=0) noexcept nogil:
    """Sum of exp_shifted_sum(x[j], shift), or with plain of the unshifted
    exp_plain(x[j]) (see plain_exps), as piece_exp_store_sum sums (padded
    head and tail, blocks of LANES from x's first 64-byte boundary), in a
    function of its own: a flag in piece_exp_store_sum's loops cost softmax,
    which never takes it, 2 to 5% (code layout).  ahead: see
    fs_prefetch_second_half in fs_platform.h."""
    cdef floating e[EXP_BLOCK]
    cdef double s[LANES]
    cdef double c[LANES]
    cdef Py_ssize_t j0, i, w
    lanes_zero(s, c)
    j0 = min(to_alignment(x, sizeof(floating)), n)
    if j0 > 0:
        exp_add_padded(x, NULL, j0, shift, plain, False, s, c)
    while n - j0 >= LANES:
        w = min(EXP_BLOCK, (n - j0) - (n - j0) % LANES)
        if ahead:
            fs_prefetch_second_half(x + ahead, sizeof(floating), n, j0, j0 + w, LANES)
        if plain:
            for i in range(w):
                e[i] = exp_plain(x[j0 + i])
        else:
            for i in range(w):
                e[i] = exp_shifted_sum(x[j0 + i], shift)
        lanes_add(s, c, e, w, floating is double)
        j0 += w
    if j0 < n:
        exp_add_padded(x + j0, NULL, n - j0, shift, plain, False, s, c)
    return lanes_result(s, c, floating is double)


cdef inline double piece_exp_store_sum_masked(const floating* x, const mask_t* mask,
                                              floating* out, Py_ssize_t n,
                                              double shift, bint exact) noexcept nogil:
    """As piece_exp_store_sum (out NULL: only the sum; exact: the exps as
    exp_stored takes them, in loops of their own); masked-out entries get
    0 and add nothing.  A block of exps at a time into the sum lanes (a
    masked-out entry's exp, maybe of x above shift, is computed and
    dropped): (8192, 1000) float32, where= 90% True, ms: one compensated sum
    in order 20 (all of softmax), in lanes 2.2."""
    cdef floating e[EXP_BLOCK]
    cdef double s[LANES]
    cdef double c[LANES]
    cdef Py_ssize_t j0 = 0, i, w
    cdef floating v
    lanes_zero(s, c)
    while j0 < n:
        w = min(<Py_ssize_t>EXP_BLOCK, n - j0)
        if out != NULL and <const floating*>out != x:
            # Straight into out, as in piece_exp_store_sum (the copy from
            # the buffer became a rep movs that took 16% of where= softmax).
            if exact:
                for i in range(w):
                    v = exp_stored(x[j0 + i], shift, True)
                    out[j0 + i] = v if mask[j0 + i] else 0.0
            else:
                for i in range(w):
                    v = exp_shifted(x[j0 + i], shift)
                    out[j0 + i] = v if mask[j0 + i] else 0.0
            lanes_add(s, c, out + j0, w, floating is double)
        else:
            if exact:
                for i in range(w):
                    v = exp_stored(x[j0 + i], shift, True)
                    e[i] = v if mask[j0 + i] else 0.0
            else:
                for i in range(w):
                    v = exp_shifted(x[j0 + i], shift)
                    e[i] = v if mask[j0 + i] else 0.0
            if out != NULL:
                for i in range((w + LANES - 1) // LANES):
                    copy32(out + j0 + i * LANES, e + i * LANES,
                           min(<Py_ssize_t>LANES, w - i * LANES))
            lanes_add(s, c, e, w, floating is double)
        j0 += w
    return lanes_result(s, c, floating is double)


cdef inline double piece_sum_exp(const floating* x, Py_ssize_t n, double shift,
                                 Py_ssize_t ahead=0) noexcept nogil:
    """Sum of exp(x[j] - shift) (ahead: see fs_prefetch_second_half)."""
    return piece_sum_exps(x, n, shift, False, ahead)


cdef inline double piece_sum_exp_masked(const floating* x, const mask_t* mask, Py_ssize_t n,
                                        double shift) noexcept nogil:
    return piece_exp_store_sum_masked(x, mask, NULL, n, shift, False)


cdef inline bint piece_has_nan(const floating* x, const mask_t* mask, Py_ssize_t n) noexcept nogil:
    """Whether an unmasked entry is NaN (rare path: logsumexp of a row whose
    max is not finite, where NaN beats +inf beats -inf)."""
    cdef Py_ssize_t j
    for j in range(n):
        if x[j] != x[j] and (mask == NULL or mask[j]):
            return True
    return False


cdef inline void piece_scale(floating* out, const mask_t* mask, Py_ssize_t n,
                             double factor) noexcept nogil:
    """out[j] *= factor; masked-out entries get 0 (also when factor is NaN).
    In the data's precision: for float32 the rounding of the factor adds at
    most half an ulp, and a product of floats vectorizes twice as wide."""
    cdef Py_ssize_t j, h = min(to_alignment(out, sizeof(floating)), n)
    cdef floating f = <floating>factor, v
    if mask == NULL:
        for j in range(h):  # before out's first 64-byte boundary, then from it
            out[j] = out[j] * f
        for j in range(h, n):
            out[j] = out[j] * f
    else:
        for j in range(n):
            v = out[j] * f
            out[j] = v if mask[j] else 0.0


cdef inline void piece_log_softmax(const floating* x, const mask_t* mask, floating* out,
                                   Py_ssize_t n, double shift, double log_sum) noexcept nogil:
    cdef Py_ssize_t j, h = min(to_alignment(x, sizeof(floating)), n)
    cdef floating v
    cdef double c = shift + log_sum
    cdef float c_hi = <float>c
    cdef float c_lo = <float>(c - c_hi)
    if floating is float and mask == NULL and fabs(shift) < 1048576.0:
        # float32 with a finite max below 2^20 in magnitude: max + log in
        # double (off by at most 2^-33, far below float32's half ulp of the
        # result) and one subtraction per element, where the exact form takes
        # x - max and then the log ((32, 50257), (8192, 1000), out=, 2
        # threads: 1.02 to 1.03x).  A larger max keeps the exact form:
        # 2^60 + log(7) would round to 2^60.  The subtraction is in float32
        # lanes, with c split in two (fs_sub_split_f: the same bits as
        # (float)(x - c) in double; out=, 2 threads, alternating processes,
        # speed-up over that: (32, 50257) 1.04x, (256, 4000) 1.05x, (8192,
        # 1000) 1.02x, (1, 1e7) 1.02x; the short rows, where the split
        # takes a second spread, gained nothing: 0.99x).
        for j in range(h):
            out[j] = fs_sub_split_f(x[j], c_hi, c_lo)
        for j in range(h, n):
            out[j] = fs_sub_split_f(x[j], c_hi, c_lo)
    elif mask == NULL:
        for j in range(h):  # before x's first 64-byte boundary, then from it
            out[j] = log_softmax_value(x[j], shift, log_sum)
        for j in range(h, n):
            out[j] = log_softmax_value(x[j], shift, log_sum)
    else:
        for j in range(n):
            v = log_softmax_value(x[j], shift, log_sum)
            out[j] = v if mask[j] else -INFINITY


cdef inline void piece_fill(floating* out, Py_ssize_t n, floating value) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        out[j] = value


cdef inline double dot_term(floating a, floating b) noexcept nogil:
    """a * b for a sum in double, in the data's precision: float32 products
    are rounded to float32 (half an ulp each, and half the conversions); one
    that overflows makes the sum +-inf, which plain_if_nonfinite then redoes
    with products in double."""
    return a * b


cdef inline double piece_dot(const floating* y, const floating* dy, Py_ssize_t n,
                             Py_ssize_t ahead=0) noexcept nogil:
    """Sum of dy[j] * y[j] in double (ahead: prefetch y and dy that far on
    as it goes, the whole row: see next_row)."""
    cdef double s[LANES]
    cdef double c[LANES]
    cdef Py_ssize_t h = min(to_alignment(y, sizeof(floating)), n)
    cdef Py_ssize_t b, j, l, nv = h + (n - h) - (n - h) % LANES
    lanes_zero(s, c)
    for b in range((nv - h) // LANES):  # from y's first 64-byte boundary
        j = h + b * LANES
        if ahead:
            fs_prefetch_lines(y + j + ahead, LANES * sizeof(floating))
            fs_prefetch_lines(dy + j + ahead, LANES * sizeof(floating))
        for l in range(LANES):
            add_to(&s[l], &c[l], dot_term(dy[j + l], y[j + l]), floating is double)
    for j in range(nv, n):  # the tail and the head: one lane per element
        add_to(&s[j - nv], &c[j - nv], dot_term(dy[j], y[j]), floating is double)
    for j in range(h):
        add_to(&s[j], &c[j], dot_term(dy[j], y[j]), floating is double)
    return plain_if_nonfinite(lanes_result(s, c, floating is double), dy, y, n, 1)


cdef inline double piece_sum_max(const floating* dy, const floating* y, Py_ssize_t n,
                                 double* ymax, Py_ssize_t ahead=0,
                                 bint with_max=True) noexcept nogil:
    """The sum of dy, and the max of y into ymax (-inf for none; NaN is
    skipped) in the same pass, where log_softmax_backward needs both before
    it writes (ahead: as piece_max, the first half of y and dy that far on).
    Without with_max, the sum alone (y is not read; ymax is left as it is)."""
    cdef double s[LANES]
    cdef double c[LANES]
    cdef floating m[MAX_LANES]
    cdef Py_ssize_t h = min(to_alignment(dy, sizeof(floating)), n)
    cdef Py_ssize_t b, j, l, nv = h + (n - h) - (n - h) % LANES
    lanes_zero(s, c)
    for l in range(MAX_LANES):
        m[l] = -INFINITY
    for b in range((nv - h) // LANES):  # from dy's first 64-byte boundary
        j = h + b * LANES
        if ahead and 2 * j < n:
            fs_prefetch_lines(y + j + ahead, LANES * sizeof(floating))
            fs_prefetch_lines(dy + j + ahead, LANES * sizeof(floating))
        if with_max:
            for l in range(LANES):
                add_to(&s[l], &c[l], dy[j + l], floating is double)
                m[l] = y[j + l] if y[j + l] > m[l] else m[l]
        else:
            for l in range(LANES):
                add_to(&s[l], &c[l], dy[j + l], floating is double)
    for j in range(nv, n):  # the tail and the head: one lane per element
        add_to(&s[j - nv], &c[j - nv], dy[j], floating is double)
        if with_max:
            m[j - nv] = y[j] if y[j] > m[j - nv] else m[j - nv]
    for j in range(h):
        add_to(&s[j], &c[j], dy[j], floating is double)
        if with_max:
            m[j] = y[j] if y[j] > m[j] else m[j]
    if with_max:
        if floating is float:
            ymax[0] = fs_max32_f(m)
        else:
            ymax[0] = fs_max32(m)
    return plain_if_nonfinite(lanes_result(s, c, floating is double), dy,
                              <const floating*>NULL, n, 1)


cdef inline bint softmax_backward_in_float(double dot) noexcept nogil:
    """Whether y * (dy - dot) for float32 data can be computed in float32
    lanes: |dot| below 2^102, half an ulp of float32's largest value, so that
    dy - dot (|dy| <= FLT_MAX) cannot round to +-inf where the exact product
    with y is finite (in double it never does).  An inf or NaN dy gives the
    same result either way."""
    return fabs(dot) < 5.070602400912918e30  # 2^102


cdef inline void softmax_backward_write(const floating* y, const floating* dy, floating* out,
                                        Py_ssize_t n, double dot, bint in_float) noexcept nogil:
    """out = y * (dy - dot); in float32 lanes when in_float (three roundings,
    at most 1.5 ulp of |y| (|dy| + |dot|)), else in double."""
    cdef Py_ssize_t j, h = min(to_alignment(y, sizeof(floating)), n)
    cdef float d32
    if floating is float:
        if in_float:
            d32 = <float>dot
            for j in range(h):  # before y's first 64-byte boundary, then from it
                out[j] = y[j] * (dy[j] - d32)
            for j in range(h, n):
                out[j] = y[j] * (dy[j] - d32)
            return
    for j in range(h):
        out[j] = <floating>(y[j] * (dy[j] - dot))
    for j in range(h, n):
        out[j] = <floating>(y[j] * (dy[j] - dot))


cdef void softmax_backward_streamed(const floating* y, const floating* dy, floating* out,
                                   Py_ssize_t n, double dot, bint in_float) noexcept nogil:
    """softmax_backward_write one L1 buffer at a time, each streamed to out:
    a first chunk up to out's first 64-byte boundary, then chunks of
    STREAM_CHUNK elements from it, so that only a row's first and last
    cache lines are written in part (with plain stores).  Chunks of
    STREAM_CHUNK from the row's start left a partial line at every chunk's
    ends where out is not on a boundary (NumPy's large arrays begin 16
    bytes past one): (4096, 4096) float32, out=, 2 threads, 64-byte-aligned
    arrays were 1.29x as fast as NumPy's (elementwise kernels, whose blocks
    start on boundaries, 1.0x)."""
    cdef floating buf[STREAM_CHUNK + 16]
    cdef floating* b = buf + to_alignment(buf, sizeof(floating))
    cdef Py_ssize_t head = min(to_alignment(out, sizeof(floating)), n)
    cdef Py_ssize_t c = 0, w
    while c < n:
        w = head if c == 0 and head else min(<Py_ssize_t>STREAM_CHUNK, n - c)
        softmax_backward_write(y + c, dy + c, b, w, dot, in_float)
        stream_copy(out + c, b, w)
        c += w


cdef inline void piece_softmax_backward(const floating* y, const floating* dy, floating* out,
                                        Py_ssize_t n, double dot, bint stream) noexcept nogil:
    cdef bint in_float = floating is float and softmax_backward_in_float(dot)
    if stream:
        softmax_backward_streamed(y, dy, out, n, dot, in_float)
    else:
        softmax_backward_write(y, dy, out, n, dot, in_float)


ctypedef enum ExpMode:
    EXP_ANY     # exp_of: any y (fs_exp_f32 in double lanes for float32, fs_exp)
    EXP_SMALL   # float64 y <= 664: fs_exp_small
    EXP_FLOAT   # float32 y <= 43 and no overflow on the way: all in float32 lanes


cdef inline ExpMode log_softmax_backward_mode(const floating* dtype_of, double ymax,
                                              double total_max) noexcept nogil:
    """How to compute dy - exp(y) * total given the largest y and |total|: the
    leanest exp valid for every y, and float32 lanes only where neither total
    nor exp(y) * total exceeds 2^127 (so no intermediate overflows where the
    exact result is finite).  A log_softmax output always has y <= 0."""
    cdef double factor
    if floating is double:
        return EXP_SMALL if ymax <= 664.0 else EXP_ANY
    factor = fs_exp(ymax) if ymax > 0.0 else 1.0
    if ymax <= 43.0 and total_max * factor < 1.7014118346046923e38:  # 2^127
        return EXP_FLOAT
    return EXP_ANY


cdef inline floating log_softmax_backward_value(floating y, floating dy, double total,
                                                float total32, ExpMode mode) noexcept nogil:
    """dy - exp(y) * total.  EXP_FLOAT: exp to 0.96 ulp and three float32
    roundings, at most 2.5 ulp of |dy| + exp(y) |total|."""
    if floating is float:
        if mode == EXP_FLOAT:
            return dy - fs_expf_small(y) * total32
        return <float>(dy - fs_exp_f32(y) * total)
    else:
        if mode == EXP_SMALL:
            return dy - fs_exp_small(y) * total
        return dy - fs_exp(y) * total


cdef inline void piece_log_softmax_backward(const floating* y, const floating* dy,
                                            floating* out, Py_ssize_t n, double total,
                                            double ymax, Py_ssize_t ahead=0) noexcept nogil:
    """out = dy - exp(y) * total, with ymax the max of y (or of a wider range
    holding this piece) for the choice of exp: the elements before y's first
    64-byte boundary, then from it (to_alignment: vectors that straddle cache
    lines cost (4096, 4096) float32, out=, 2 threads, 8%; (8192, 1000) 4%;
    float64 2 to 3%); with ahead, EXP_BLOCK elements at a time (see
    fs_prefetch_second_half)."""
    cdef Py_ssize_t j, j0 = 0, w = n
    cdef ExpMode mode = log_softmax_backward_mode(y, ymax, fabs(total))
    cdef float total32 = <float>total
    cdef Py_ssize_t h = min(to_alignment(y, sizeof(floating)), n)
    while j0 < n:
        if j0 == 0 and h > 0:
            w = h
        elif ahead:
            w = min(<Py_ssize_t>EXP_BLOCK, n - j0)
        else:
            w = n - j0
        if ahead:
            fs_prefetch_second_half(y + ahead, sizeof(floating), n, j0, j0 + w, LANES)
            fs_prefetch_second_half(dy + ahead, sizeof(floating), n, j0, j0 + w, LANES)
        if mode == EXP_ANY:
            for j in range(j0, j0 + w):
                out[j] = log_softmax_backward_value(y[j], dy[j], total, total32, EXP_ANY)
        elif mode == EXP_SMALL:
            for j in range(j0, j0 + w):
                out[j] = log_softmax_backward_value(y[j], dy[j], total, total32, EXP_SMALL)
        else:
            for j in range(j0, j0 + w):
                out[j] = log_softmax_backward_value(y[j], dy[j], total, total32, EXP_FLOAT)
        j0 += w


cdef inline double lanes_log_softmax_backward(const floating* y, const floating* dy,
                                              floating* out, Py_ssize_t n, double total,
                                              ExpMode mode) noexcept nogil:
    """piece_log_softmax_backward for n a multiple of MAX_LANES and mode
    EXP_FLOAT or EXP_SMALL, in lanes that also take the max of y (as
    piece_max): the max costs no pass of its own.  Returns the max."""
    cdef floating m[MAX_LANES]
    cdef float total32 = <float>total
    cdef Py_ssize_t b, j, l
    for l in range(MAX_LANES):
        m[l] = -INFINITY
    for b in range(n // MAX_LANES):
        j = b * MAX_LANES
        if mode == EXP_FLOAT:
            for l in range(MAX_LANES):
                out[j + l] = log_softmax_backward_value(y[j + l], dy[j + l], total, total32,
                                                        EXP_FLOAT)
                m[l] = y[j + l] if y[j + l] > m[l] else m[l]
        else:
            for l in range(MAX_LANES):
                out[j + l] = log_softmax_backward_value(y[j + l], dy[j + l], total, total32,
                                                        EXP_SMALL)
                m[l] = y[j + l] if y[j + l] > m[l] else m[l]
    if floating is float:
        return fs_max32_f(m)
    else:
        return fs_max32(m)


cdef inline double piece_log_softmax_backward_max(const floating* y, const floating* dy,
                                                  floating* out, Py_ssize_t n,
                                                  double total) noexcept nogil:
    """piece_log_softmax_backward with the exp chosen for y <= 0, and the
    max of y (as piece_max), taken as the results are written; out must not
    share memory with y or dy."""
    cdef ExpMode mode = log_softmax_backward_mode(y, 0.0, fabs(total))
    cdef Py_ssize_t h = min(to_alignment(y, sizeof(floating)), n)
    cdef Py_ssize_t nv = (n - h) - (n - h) % MAX_LANES
    cdef double m, tail
    if mode == EXP_ANY:  # float32 |total| >= 2^127: a whole pass for the max
        piece_log_softmax_backward(y, dy, out, n, total, 0.0)
        return piece_max(y, n)
    m = lanes_log_softmax_backward(y + h, dy + h, out + h, nv, total, mode)
    piece_log_softmax_backward(y, dy, out, h, total, 0.0)
    piece_log_softmax_backward(y + h + nv, dy + h + nv, out + h + nv, n - h - nv, total, 0.0)
    tail = piece_max(y, h)
    m = tail if tail > m else m
    tail = piece_max(y + h + nv, n - h - nv)
    return tail if tail > m else m


# ---------------------------------------------------------------------------
# One row (last axis): x, mask, out point at the row's first element; mask is
# NULL for "no mask".


cdef inline Py_ssize_t next_row(Py_ssize_t n, Py_ssize_t itemsize) noexcept nogil:
    """How far on a row's first pass prefetches (masked rows, softmax_backward):
    n (the next row, which follows it in memory) for rows of
    PREFETCH_ROW_MIN_BYTES to PREFETCH_ROW_MAX_BYTES, else 0 (none).  Past
    the last row it prefetches lines it never reads, which cannot fault."""
    if PREFETCH_ROW_MIN_BYTES <= n * itemsize <= PREFETCH_ROW_MAX_BYTES:
        return n
    return 0


cdef inline Py_ssize_t next_row_split(Op op, Py_ssize_t n, Py_ssize_t itemsize,
                                      bint prefetch) noexcept nogil:
    """next_row for the unmasked rows whose first two passes share the
    prefetch (see PREFETCH_SPLIT_MIN_BYTES): rows of PREFETCH_SPLIT_MIN_BYTES
    to PREFETCH_SPLIT_MAX_BYTES, softmax's only to PREFETCH_ROW_MAX_BYTES,
    log_softmax's and logsumexp's to PREFETCH_SPLIT_MAX_BYTES_LOG; 0 (none)
    where the caller's rows_prefetch said no."""
    cdef Py_ssize_t most = PREFETCH_SPLIT_MAX_BYTES
    if not prefetch:
        return 0
    if op == SOFTMAX:
        most = PREFETCH_ROW_MAX_BYTES
    elif op == LOG_SOFTMAX or op == LOGSUMEXP:
        most = PREFETCH_SPLIT_MAX_BYTES_LOG
    if PREFETCH_SPLIT_MIN_BYTES <= n * itemsize <= most:
        return n
    return 0


cdef inline double row_shift(const floating* x, const mask_t* mask, Py_ssize_t n,
                             bint* found, Py_ssize_t ahead) noexcept nogil:
    """The row's max (ahead: next_row_split's, for unmasked rows).  Masked
    rows prefetch the next row (next_row) unless next_row_prefetch says no:
    on the AMD EPYC (Zen 4) host, where= 90% True, out=, 2 threads,
    alternating processes, speed-up without it: softmax (8192, 1000)
    float32 1.34x, float64 1.13x, (4096, 4096) float32 1.24x, (1000, 1000)
    float32 1.05x; log_softmax (8192, 1000) float32 1.19x; logsumexp
    float64 1.11x."""
    if mask == NULL:
        found[0] = True
        return piece_max(x, n, ahead)
    return piece_max_masked(x, mask, n, found,
                            next_row(n, sizeof(floating)) if next_row_prefetch else 0)


cdef inline void softmax_row(const floating* x, const mask_t* mask, floating* out,
                             Py_ssize_t n, bint exact, bint prefetch) noexcept nogil:
    cdef bint found
    cdef double total
    cdef Py_ssize_t ahead = next_row_split(SOFTMAX, n, sizeof(floating), prefetch)
    # Shift by the max: every exp is <= 1 and the largest is 1, so the sum
    # cannot overflow and is >= 1.  A non-finite max gives NaN (as wanted).
    cdef double shift = row_shift(x, mask, n, &found, ahead)
    if not found:
        piece_fill(out, n, 0.0)
    elif mask == NULL:
        total = piece_exp_store_sum(x, out, n, shift, exact, ahead)
        piece_scale(out, NULL, n, 1.0 / total)
    else:
        total = piece_exp_store_sum_masked(x, mask, out, n, shift, exact)
        piece_scale(out, mask, n, 1.0 / total)


cdef inline double row_sum_exp(const floating* x, const mask_t* mask, Py_ssize_t n,
                               double shift, Py_ssize_t ahead=0) noexcept nogil:
    if mask == NULL:
        return piece_sum_exp(x, n, shift, ahead)
    return piece_sum_exp_masked(x, mask, n, shift)


cdef inline void log_softmax_row(const floating* x, const mask_t* mask, floating* out,
                                 Py_ssize_t n, bint prefetch) noexcept nogil:
    cdef bint found
    cdef Py_ssize_t ahead = next_row_split(LOG_SOFTMAX, n, sizeof(floating), prefetch)
    cdef double shift = row_shift(x, mask, n, &found, ahead)
    if not found:
        piece_fill(out, n, -INFINITY)
    elif mask == NULL and plain_exps(x, shift):
        piece_log_softmax(x, NULL, out, n, shift, plain_log_sum(x, n, shift, ahead))
    else:
        piece_log_softmax(x, mask, out, n, shift, log(row_sum_exp(x, mask, n, shift, ahead)))


cdef inline double logsumexp_finish(const floating* x, const mask_t* mask, Py_ssize_t n,
                                    double shift, bint found, double total) noexcept nogil:
    if not found:
        return -INFINITY
    if shift - shift != 0.0:  # +-inf max: NaN beats +inf beats -inf
        return NAN if piece_has_nan(x, mask, n) else shift
    return shift + log(total)


cdef inline double logsumexp_row(const floating* x, const mask_t* mask,
                                 Py_ssize_t n, bint prefetch) noexcept nogil:
    cdef bint found
    cdef Py_ssize_t ahead = next_row_split(LOGSUMEXP, n, sizeof(floating), prefetch)
    cdef double shift = row_shift(x, mask, n, &found, ahead)
    if not found or shift - shift != 0.0:
        return logsumexp_finish(x, mask, n, shift, found, 0.0)
    if mask == NULL and plain_exps(x, shift):
        return shift + plain_log_sum(x, n, shift, ahead)
    return logsumexp_finish(x, mask, n, shift, found, row_sum_exp(x, mask, n, shift, ahead))


cdef inline bint overlaps(const void* a, const void* b, Py_ssize_t nbytes) noexcept nogil:
    """Whether nbytes from a and nbytes from b share a byte."""
    return <size_t>a < <size_t>b + nbytes and <size_t>b < <size_t>a + nbytes


cdef inline void log_softmax_backward_row(const floating* y, const floating* dy,
                                          floating* out, Py_ssize_t n,
                                          bint prefetch) noexcept nogil:
    """log_softmax_backward of one row.  Its choice of exp needs the max of
    y, but the exp chosen for y <= 0 (what log_softmax gives) holds for any
    max up to 0.  Rows longer than PREFETCH_SPLIT_MAX_BYTES: the first pass
    sums dy alone, the second takes the max of y in its lanes as it writes
    (piece_log_softmax_backward_max), and a row whose max asks for another
    exp is written again with it (the same bits as taking the max first).
    Side by side, 2 threads, against the max in the first pass: (32, 50257)
    float32 1.17x, float64 1.21 to 1.22x.  Shorter rows keep the max in the
    first pass: those that prefetch lost with it in the second (0.96 to
    0.99x at 4 to 16 KB in blocks beside the writes, 0.76 to 0.97x in the
    lanes), and so did rows of 400 bytes (0.93x).  Nor can out sharing
    memory with y or dy (in place) be written twice."""
    cdef Py_ssize_t ahead = next_row_split(LOG_SOFTMAX_BACKWARD, n, sizeof(floating), prefetch)
    cdef double total, ymax = 0.0
    cdef Py_ssize_t nbytes = n * sizeof(floating)
    if (nbytes <= PREFETCH_SPLIT_MAX_BYTES or overlaps(out, y, nbytes)
            or overlaps(out, dy, nbytes)):
        total = piece_sum_max(dy, y, n, &ymax, ahead)
        piece_log_softmax_backward(y, dy, out, n, total, ymax, ahead)
        return
    total = piece_sum_max(dy, y, n, &ymax, 0, False)
    ymax = piece_log_softmax_backward_max(y, dy, out, n, total)
    if ymax > 0.0 and (log_softmax_backward_mode(y, ymax, fabs(total))
                       != log_softmax_backward_mode(y, 0.0, fabs(total))):
        piece_log_softmax_backward(y, dy, out, n, total, ymax)


cdef inline void row_op(Op op, const floating* x, const floating* dy, const mask_t* mask,
                        floating* out, Py_ssize_t n, bint stream, bint exact,
                        bint prefetch=True) noexcept nogil:
    """Row function `op` on one row; logsumexp writes out[0].  stream:
    softmax_backward writes with streaming stores (the caller fences).
    exact: softmax's exps as exp_stored takes them.  prefetch: see
    rows_prefetch."""
    if op == SOFTMAX:
        softmax_row(x, mask, out, n, exact, prefetch)
    elif op == LOG_SOFTMAX:
        log_softmax_row(x, mask, out, n, prefetch)
    elif op == LOGSUMEXP:
        out[0] = <floating>logsumexp_row(x, mask, n, prefetch)
    elif op == SOFTMAX_BACKWARD:
        piece_softmax_backward(x, dy, out, n,
                               piece_dot(x, dy, n, next_row(n, sizeof(floating)) if prefetch else 0),
                               stream)
    else:
        log_softmax_backward_row(x, dy, out, n, prefetch)


cdef inline bint rows_prefetch(Op op, Py_ssize_t nbytes) noexcept nogil:
    """Whether the rows of a block of nbytes prefetch the next row as they go
    (next_row_split): not where the block fits in half the last-level cache
    (its rows come from there; the prefetches only cost instructions), nor
    the backward passes' rows on AMD's Zen 4 and later (next_row_prefetch:
    their hardware prefetchers do better alone; the rule of
    PREFETCH_ROW_MIN_BYTES was measured on an earlier, AVX2-only EPYC).  On
    the AMD EPYC (Zen 4, 32 MB L3) host, out=, 2 threads, alternating
    processes, speed-up without the prefetch: log_softmax (32, 50257)
    float32 1.11-1.13x, float64 1.09x, logsumexp (32, 50257) float64 1.06-1.10x;
    log_softmax_backward (8192, 1000) float32 1.12-1.35x, float64
    1.18-1.23x, (4096, 4096) 1.04 / 1.10x, (2048, 4000) float64 1.08x,
    (16384, 500) float32 1.06x, (32768, 128) float64 1.07x;
    softmax_backward (8192, 1000) float32 1.22-1.53x, float64 1.08-1.24x,
    (4096, 4096) float32 1.18-1.23x, (16384, 500) float32 0.91-1.06x,
    float64 1.18x (rows of 32 KB, which never prefetch: 0.97x, the noise).
    The forward rows of larger blocks keep it there: without it softmax
    (4096, 4096) float32 measured 0.77x, (8192, 1000) float64 0.86x,
    logsumexp (8192, 1000) float64 0.92x."""
    if (op == LOG_SOFTMAX_BACKWARD or op == SOFTMAX_BACKWARD) and not next_row_prefetch:
        return False
    return llc_bytes == 0 or nbytes > llc_bytes // 2


cdef void rows(Op op, const floating* x, const floating* dy, const mask_t* mask, floating* out,
               Py_ssize_t outer, Py_ssize_t n, int nthreads, bint stream,
               bint exact) noexcept nogil:
    """One row per task, rows spread over threads."""
    cdef Py_ssize_t r
    cdef Py_ssize_t out_stride = 1 if op == LOGSUMEXP else n
    cdef bint prefetch = rows_prefetch(op, outer * n * <Py_ssize_t>sizeof(floating))
    cdef int nt = threads_for(row_work_of(outer * n, op != SOFTMAX_BACKWARD, sizeof(floating)),
                              <int>min(nthreads, outer))
    if nt == 1:  # no parallel region (see elementwise)
        for r in range(outer):
            row_op(op, x + r * n, NULL if dy == NULL else dy + r * n,
                   NULL if mask == NULL else mask + r * n, out + r * out_stride, n, stream,
                   exact, prefetch)
        if stream:
            fs_stream_fence()
        return
    if outer * n * <Py_ssize_t>sizeof(floating) >= balance_min_bytes:
        with parallel(num_threads=nt):
            for r in prange(outer, schedule='dynamic', chunksize=balance_chunk(outer, nt)):
                row_op(op, x + r * n, NULL if dy == NULL else dy + r * n,
                       NULL if mask == NULL else mask + r * n, out + r * out_stride, n, stream,
                       exact, prefetch)
            if stream:
                fs_stream_fence()
        return
    with parallel(num_threads=nt):
        for r in prange(outer, schedule='static'):
            row_op(op, x + r * n, NULL if dy == NULL else dy + r * n,
                   NULL if mask == NULL else mask + r * n, out + r * out_stride, n, stream,
                   exact, prefetch)
        if stream:
            fs_stream_fence()


# ---------------------------------------------------------------------------
# Short rows (n <= SHORT_ROW; masked ones through a masked copy of each block:
# where= 90% True, (65536, 10) 7-11x the speed of the row path, (16384, 40)
# 3-5x).  The whole-row functions above pay a fixed cost per row (lanes to
# set up and combine, loops too short to vectorize) that dominates rows of
# ten elements.  Here a block of whole rows
# is done in passes: the rows' maxima and (float32) sums, one vectorized loop
# over the whole block for the exps, each element shifted by its own row's max
# (spread into `shift`), and one for the results.  Rows of 2 to 16 elements
# take their maxima and spreads in AVX-512 or AVX2 vectors across groups of
# rows (fs_short.h); longer rows, the baseline build, and the rows left over
# from whole groups take per-row scalar loops.  Same arithmetic as the row path: TwoSum
# differences, sums in double, Kahan-compensated for float64 data.  (65536,
# 10), out=, 2 threads, ms, scalar / vectors: float32 softmax 0.243 / 0.155,
# log_softmax 0.29 / 0.20, logsumexp 0.245 / 0.17; float64 softmax 0.318 /
# 0.306, log_softmax 0.383 / 0.345.  On an AMD EPYC (AVX2), side by side,
# out=, 2 threads, speed-up of the AVX2 vectors over the scalar loops:
# (65536, 10) float32 softmax 1.45 to 1.47x, log_softmax 1.49x, logsumexp
# 1.42x, softmax_backward 1.35x, log_softmax_backward 1.32x; float64
# softmax 1.16x, log_softmax 1.17x; rows of 2 to 16: 1.08 to 2.6x.


cdef inline floating exp_diff(floating v, floating m) noexcept nogil:
    """exp(v - m) with v - m exact (as exp_shifted, with m of the data's dtype)."""
    if floating is float:
        return fs_expf_diff_nonpositive(v, m)
    else:
        return fs_exp_diff_nonpositive(v, m)


cdef void short_exps_exact(const floating* x, const floating* shift, floating* e,
                           Py_ssize_t size) noexcept nogil:
    """e[i] = exp(x[i] - shift[i]) as exp_stored with exact takes them; out of
    line (inline, the choice cost short_rows on other data 3-7%: code
    layout)."""
    cdef Py_ssize_t i
    for i in range(size):
        e[i] = exp_stored(x[i], shift[i], True)


cdef inline double short_term(const floating* e, const floating* y, Py_ssize_t k) noexcept nogil:
    """e[k], or e[k] * y[k] in double when y is given."""
    if y == NULL:
        return e[k]
    return <double>e[k] * y[k]


cdef inline void short_sums(const floating* e, const floating* y, double* total,
                            Py_ssize_t count, Py_ssize_t n, bint of_exps) noexcept nogil:
    """total[r] = the sum of row r of e (or of e * y when y is given), in
    double, Kahan-compensated for float64 data; four rows at a time: four
    independent dependency chains instead of one."""
    cdef double t0, t1, t2, t3, c0, c1, c2, c3
    cdef double s[LANES]
    cdef double c[LANES]
    cdef Py_ssize_t r = 0, j, k
    cdef bint comp = floating is double
    if floating is float and n >= SHORT_VECTOR_ROW and y == NULL:
        for r in range(count):
            lanes_zero(s, c)
            lanes_add(s, c, e + r * n, n, comp)
            total[r] = lanes_result(s, c, comp)
        r = count
    while r + 4 <= count:
        k = r * n
        t0 = t1 = t2 = t3 = 0.0
        c0 = c1 = c2 = c3 = 0.0
        for j in range(n):
            add_to(&t0, &c0, short_term(e, y, k + j), comp)
            add_to(&t1, &c1, short_term(e, y, k + n + j), comp)
            add_to(&t2, &c2, short_term(e, y, k + 2 * n + j), comp)
            add_to(&t3, &c3, short_term(e, y, k + 3 * n + j), comp)
        total[r] = t0 - c0
        total[r + 1] = t1 - c1
        total[r + 2] = t2 - c2
        total[r + 3] = t3 - c3
        r += 4
    while r < count:
        t0 = c0 = 0.0
        for j in range(n):
            add_to(&t0, &c0, short_term(e, y, r * n + j), comp)
        total[r] = t0 - c0
        r += 1
    if not of_exps:  # sums of exps (terms <= 1) cannot overflow
        for r in range(count):
            total[r] = plain_if_nonfinite(total[r], e + r * n, NULL if y == NULL else y + r * n,
                                          n, 1)


cdef inline void short_dots(const floating* y, const floating* dy, floating* p, double* total,
                            Py_ssize_t count, Py_ssize_t n) noexcept nogil:
    """total[r] = the sum of row r of dy * y, as piece_dot: float32 products
    rounded to float32 (into p) and summed in double, rows of 8 to 16 a
    group at a time in AVX-512 or AVX2 vectors (fs_short_sums_f); float64 products
    Kahan-compensated.  A non-finite sum is redone with products in double
    (plain_if_nonfinite)."""
    cdef Py_ssize_t i, r
    if floating is float:
        for i in range(count * n):
            p[i] = dot_term(dy[i], y[i])
        if not (FS_SHORT_SUMS_MIN_N <= n <= FS_SHORT_MAX_N
                and fs_short_sums_f(p, total, count, n) == count):
            short_sums(p, NULL, total, count, n, True)
        for r in range(count):
            total[r] = plain_if_nonfinite(total[r], dy + r * n, y + r * n, n, 1)
    else:
        short_sums(dy, y, total, count, n, False)


cdef inline Py_ssize_t short_max_vectors(const floating* x, floating* m, Py_ssize_t count,
                                         Py_ssize_t n) noexcept nogil:
    if floating is float:
        return fs_short_max_f(x, m, count, n)
    else:
        return fs_short_max_d(x, m, count, n)


cdef inline void short_maxima(const floating* x, floating* m, Py_ssize_t count,
                              Py_ssize_t n) noexcept nogil:
    """m[r] = the max of row r (NaN ignored): whole groups of rows in vectors
    (fs_short.h), the rest four rows at a time (four independent chains of
    compare-and-select)."""
    cdef floating m0, m1, m2, m3
    cdef Py_ssize_t r = short_max_vectors(x, m, count, n), j
    cdef const floating* x0
    if floating is float and n >= SHORT_VECTOR_ROW:
        for r in range(count):
            m[r] = <floating>piece_max(x + r * n, n)
        return
    while r + 4 <= count:
        x0 = x + r * n
        m0 = m1 = m2 = m3 = -INFINITY
        for j in range(n):
            m0 = x0[j] if x0[j] > m0 else m0
            m1 = x0[n + j] if x0[n + j] > m1 else m1
            m2 = x0[2 * n + j] if x0[2 * n + j] > m2 else m2
            m3 = x0[3 * n + j] if x0[3 * n + j] > m3 else m3
        m[r] = m0
        m[r + 1] = m1
        m[r + 2] = m2
        m[r + 3] = m3
        r += 4
    while r < count:
        x0 = x + r * n
        m0 = -INFINITY
        for j in range(n):
            m0 = x0[j] if x0[j] > m0 else m0
        m[r] = m0
        r += 1


cdef inline void short_spread(const floating* vals, floating* out, Py_ssize_t count,
                              Py_ssize_t n) noexcept nogil:
    """out[r * n + j] = vals[r] for j < n."""
    cdef Py_ssize_t r, j
    if floating is float:
        r = fs_short_spread_f(vals, out, count, n)
    else:
        r = fs_short_spread_d(vals, out, count, n)
    for r in range(r, count):
        for j in range(n):
            out[r * n + j] = vals[r]


cdef inline void short_spread_double(const double* vals, double* out, Py_ssize_t count,
                                     Py_ssize_t n) noexcept nogil:
    """short_spread of double values (for data of either dtype)."""
    cdef Py_ssize_t r, j
    for r in range(fs_short_spread_d(vals, out, count, n), count):
        for j in range(n):
            out[r * n + j] = vals[r]


cdef inline void short_rows(Op op, const floating* x, const floating* dy, const mask_t* mask,
                            floating* out, Py_ssize_t count, Py_ssize_t n,
                            bint exact) noexcept nogil:
    """`op` on `count` consecutive rows of n elements, count * n <= SHORT_BLOCK
    (exact: softmax's exps as exp_stored takes them).  A mask (the forward
    functions) makes the masked-out entries -inf in a copy of the block,
    which then goes the same way; only the results of masked-out entries
    are set apart (0 or -inf, whatever their row gives): a fully masked row
    gives all 0 or all -inf (its max -inf, its sum NaN), logsumexp -inf."""
    cdef floating xm[SHORT_BLOCK]
    cdef floating rowmax[SHORT_BLOCK]
    cdef floating shift[SHORT_BLOCK]
    cdef floating e[SHORT_BLOCK]
    cdef double total[SHORT_BLOCK]
    cdef double exps[SHORT_BLOCK]
    cdef double spread[SHORT_BLOCK]
    cdef double m
    cdef ExpMode mode
    cdef Py_ssize_t r, j, i, size = count * n
    cdef bint in_float
    cdef floating v
    if mask != NULL:
        for i in range(size):
            v = x[i]
            xm[i] = v if mask[i] else -INFINITY
        x = xm
    if op == SOFTMAX_BACKWARD:
        short_dots(x, dy, e, total, count, n)
        # The dots spread over the rows' elements, then one loop over the
        # block (softmax_backward_write's arithmetic): in float32 lanes when
        # every row's dot allows them, else in double.
        in_float = floating is float
        for r in range(count):
            in_float &= softmax_backward_in_float(total[r])
        if floating is float and in_float:
            for r in range(count):
                rowmax[r] = <float>total[r]
            short_spread(rowmax, shift, count, n)
            for i in range(size):
                out[i] = x[i] * (dy[i] - shift[i])
            return
        short_spread_double(total, spread, count, n)
        for i in range(size):
            out[i] = <floating>(x[i] * (dy[i] - spread[i]))
        return
    if op == LOG_SOFTMAX_BACKWARD:
        # The sums of dy, then piece_log_softmax_backward's arithmetic over
        # the whole block: the mode from the block's largest y and |total|,
        # the totals spread over the rows' elements.
        if not (floating is float and FS_SHORT_SUMS_MIN_N <= n <= FS_SHORT_MAX_N
                and fs_short_sums_f(dy, total, count, n) == count):
            short_sums(dy, NULL, total, count, n, True)
        m = 0.0
        for r in range(count):  # an inf or NaN dy: as plain summation gives it
            total[r] = plain_if_nonfinite(total[r], dy + r * n, <const floating*>NULL, n, 1)
            m = fmax(m, fabs(total[r]))
        mode = log_softmax_backward_mode(x, piece_max(x, size), m)
        if floating is float and mode == EXP_FLOAT:
            for r in range(count):
                rowmax[r] = <float>total[r]
            short_spread(rowmax, shift, count, n)
            for i in range(size):
                e[i] = fs_expf_small(x[i])
            for i in range(size):
                out[i] = dy[i] - e[i] * shift[i]
            return
        short_spread_double(total, spread, count, n)
        if mode == EXP_SMALL:
            for i in range(size):
                out[i] = <floating>(dy[i] - fs_exp_small(x[i]) * spread[i])
        else:
            for i in range(size):
                out[i] = <floating>(dy[i] - exp_of(x[i]) * spread[i])
        return
    # Forward: the row maxima, spread over the rows' elements.
    short_maxima(x, rowmax, count, n)
    short_spread(rowmax, shift, count, n)
    if op == SOFTMAX:
        if exact:
            short_exps_exact(x, shift, e, size)
        else:
            for i in range(size):
                e[i] = exp_diff(x[i], shift[i])
    else:  # only summed
        for i in range(size):
            e[i] = exp_shifted_sum(x[i], shift[i])
    # Float32 rows of 8 to 16 in AVX-512 or AVX2 vectors (fs_short_sums_f
    # does 0 rows in the baseline build); the test stays out here: inside short_sums it
    # cost shorter rows 2-3% (the loops gcc made of it).
    if not (floating is float and FS_SHORT_SUMS_MIN_N <= n <= FS_SHORT_MAX_N
            and fs_short_sums_f(e, total, count, n) == count):
        short_sums(e, NULL, total, count, n, True)
    # Then the rows' reciprocals or logs, vectorized over the rows.
    if op == SOFTMAX:
        # The reciprocals spread over the rows' elements (into shift, free
        # now), then one loop over the block.
        for r in range(count):
            rowmax[r] = <floating>(1.0 / total[r])
        short_spread(rowmax, shift, count, n)
        if mask == NULL:
            for i in range(size):
                out[i] = e[i] * shift[i]
        else:
            for i in range(size):
                v = e[i] * shift[i]
                out[i] = v if mask[i] else 0.0
        return
    for r in range(count):
        total[r] = fs_log_ge1(total[r])  # the sums are >= 1 (or NaN)
    if op == LOG_SOFTMAX:
        if floating is float and short_maxima_small(rowmax, count):
            # Every row's max finite and below 2^20 in magnitude: max + log
            # in double (off by at most 2^-33, far below float32's half ulp
            # of the result) spread over the elements, and one subtraction
            # each, where the exact form takes x - max and then the log.
            for r in range(count):
                total[r] = rowmax[r] + total[r]
            short_spread_double(total, exps, count, n)
            if mask == NULL:
                for i in range(size):
                    out[i] = <float>(x[i] - exps[i])
            else:
                for i in range(size):
                    v = <float>(x[i] - exps[i])
                    out[i] = v if mask[i] else -INFINITY
            return
        # The logs spread over the rows' elements (into exps, free now), then
        # one loop over the block.
        short_spread_double(total, exps, count, n)
        if mask == NULL:
            for i in range(size):
                out[i] = log_softmax_value(x[i], shift[i], exps[i])
        else:
            for i in range(size):
                v = log_softmax_value(x[i], shift[i], exps[i])
                out[i] = v if mask[i] else -INFINITY
    else:
        for r in range(count):
            m = rowmax[r]
            if m - m == 0:
                out[r] = <floating>(m + total[r])
            else:  # +-inf max (NaN beats +inf beats -inf): total is not used
                out[r] = <floating>logsumexp_finish(x + r * n, NULL, n, m, True, 0.0)


cdef inline bint short_maxima_small(const floating* rowmax, Py_ssize_t count) noexcept nogil:
    """Whether every row max is finite and below 2^20 in magnitude."""
    cdef Py_ssize_t r
    cdef bint small = True
    for r in range(count):
        small &= fabs(rowmax[r]) < 1048576.0  # false for inf and NaN
    return small


cdef inline Py_ssize_t short_row_limit(Op op, bint single) noexcept nogil:
    """The longest rows that take the short-row path (see SHORT_ROW)."""
    if op == SOFTMAX_BACKWARD:
        return SHORT_ROW_NO_EXP
    if single and op != LOG_SOFTMAX_BACKWARD:
        return SHORT_ROW
    return SHORT_ROW_WIDE


cdef void rows_short(Op op, const floating* x, const floating* dy, const mask_t* mask,
                     floating* out, Py_ssize_t outer, Py_ssize_t n, int nthreads,
                     bint exact) noexcept nogil:
    """Blocks of SHORT_BLOCK // n rows spread over threads: for rows of at
    most FS_SHORT_MAX_N, a multiple of 16 rows (whole groups for
    fs_short.h), for longer ones a multiple of 4 (short_sums takes four rows
    at a time, and a row left over sums as one dependency chain: 16384 rows
    of 100 float32, out=, 2 threads, blocks of 10 rows / 8: softmax 0.49 /
    0.42 ms, logsumexp 0.45 / 0.37; of 70 float64, 14 rows / 12: 0.73 /
    0.63)."""
    cdef Py_ssize_t per_block = SHORT_BLOCK // n
    if n <= FS_SHORT_MAX_N:
        per_block -= per_block % 16
    elif per_block >= 4:
        per_block -= per_block % 4
    cdef Py_ssize_t blocks = (outer + per_block - 1) // per_block
    cdef Py_ssize_t b, r0, count
    cdef Py_ssize_t out_stride = 1 if op == LOGSUMEXP else n
    cdef int nt = threads_for(row_work_of(outer * n, op != SOFTMAX_BACKWARD, sizeof(floating)),
                              nthreads)
    if nt == 1:  # no parallel region (see elementwise)
        for b in range(blocks):
            r0 = b * per_block
            short_rows(op, x + r0 * n, NULL if dy == NULL else dy + r0 * n,
                       NULL if mask == NULL else mask + r0 * n,
                       out + r0 * out_stride, min(per_block, outer - r0), n, exact)
        return
    if outer * n * <Py_ssize_t>sizeof(floating) >= balance_min_bytes:
        for b in prange(blocks, schedule='dynamic', chunksize=balance_chunk(blocks, nt),
                        num_threads=nt):
            r0 = b * per_block
            count = per_block if outer - r0 > per_block else outer - r0
            short_rows(op, x + r0 * n, NULL if dy == NULL else dy + r0 * n,
                       NULL if mask == NULL else mask + r0 * n, out + r0 * out_stride,
                       count, n, exact)
        return
    for b in prange(blocks, schedule='static', num_threads=nt):
        r0 = b * per_block
        count = per_block if outer - r0 > per_block else outer - r0
        short_rows(op, x + r0 * n, NULL if dy == NULL else dy + r0 * n,
                   NULL if mask == NULL else mask + r0 * n, out + r0 * out_stride,
                   count, n, exact)


# ---------------------------------------------------------------------------
# Few long rows: each row split into `parts` pieces, one task per piece, and
# the pieces' maxima and sums combined between passes (a two-level reduction),
# so that every thread has work.  Scratch is O(rows * parts).


cdef int rows_split_local(Op op, const floating* x, floating* out, Py_ssize_t outer,
                          Py_ssize_t n, int nthreads, Py_ssize_t parts,
                          bint exact) except -1 nogil:
    """rows_split for the unmasked forward functions, in two passes instead of
    three: each piece is shifted by its own max (read while the piece is in
    cache: pieces of at most SPLIT_PIECE_BYTES, several per thread), and the
    pieces' sums are brought to the row's max when combined:
        total = sum_p s_p exp(m_p - M),   M = max_p m_p
    softmax then writes exp(x - M) / total (the exps taken again from M, so
    that equal inputs in different pieces give equal outputs), log_softmax
    writes x - M - log(total), logsumexp needs no second pass.  Rows whose max
    is not finite (only -inf and NaN, or a +inf) are redone by the row
    function, which gives them their NaN / inf semantics (rare).  Softmax
    comes here only where cheap_exps (AVX-512 builds, not on AMD); elsewhere its
    second exp per element costs more than rows_split's extra pass: on an
    AMD EPYC (AVX2), 2 threads, side by side, rows_split's speed-up: (1,
    10^7) float32 out= 1.19x, float64 1.25x, (4, 10^6) float32 1.36x."""
    cdef Py_ssize_t tasks = outer * parts
    cdef Py_ssize_t t, r, p, j0, j1
    cdef double* part_max = <double*>malloc(tasks * sizeof(double))
    cdef double* part_sum = <double*>malloc(tasks * sizeof(double))
    cdef double* row_max = <double*>malloc(outer * sizeof(double))
    cdef double* row_total = <double*>malloc(outer * sizeof(double))
    cdef double total, comp, m
    try:
        if part_max == NULL or part_sum == NULL or row_max == NULL or row_total == NULL:
            with gil:
                raise MemoryError()
        # Pass 1: each piece's max and its sum of exp(x - max).  A piece of
        # only -inf (or none) adds nothing.
        for t in prange(tasks, schedule='static', num_threads=nthreads):
            j0 = (t % parts) * n // parts
            j1 = (t % parts + 1) * n // parts
            r = t // parts
            part_max[t] = piece_max(x + r * n + j0, j1 - j0)
            if part_max[t] == -INFINITY:
                # Only -inf or NaN (the max skips NaN): nothing to add, or a NaN
                # that must still reach the row's sum.
                part_sum[t] = NAN if piece_has_nan(x + r * n + j0, NULL, j1 - j0) else 0.0
            else:
                part_sum[t] = piece_sum_exp(x + r * n + j0, j1 - j0, part_max[t])
        # The rows: M and the pieces' sums brought to it.
        for r in range(outer):
            m = -INFINITY
            for p in range(parts):
                m = part_max[r * parts + p] if part_max[r * parts + p] > m else m
            row_max[r] = m
            if m - m != 0.0:
                row_op(op, x + r * n, NULL, NULL, out + r * (1 if op == LOGSUMEXP else n), n,
                       False, exact)
                continue
            total = 0.0
            comp = 0.0
            for p in range(parts):
                fs_kahan_add(&total, &comp, part_sum[r * parts + p]
                             * exp_of_diff(part_max[r * parts + p], m))
            row_total[r] = total - comp
            if op == LOGSUMEXP:
                out[r] = <floating>(m + log(row_total[r]))
        if op == LOGSUMEXP:
            return 0
        # Pass 2: write the pieces of the rows with a finite max.
        for t in prange(tasks, schedule='static', num_threads=nthreads):
            j0 = (t % parts) * n // parts
            j1 = (t % parts + 1) * n // parts
            r = t // parts
            if row_max[r] - row_max[r] == 0.0:
                if op == SOFTMAX:
                    # The piece is in L2: its exps go to out and are scaled
                    # there.
                    piece_exp_store_sum(x + r * n + j0, out + r * n + j0, j1 - j0, row_max[r],
                                        exact)
                    piece_scale(out + r * n + j0, NULL, j1 - j0, 1.0 / row_total[r])
                else:
                    piece_log_softmax(x + r * n + j0, NULL, out + r * n + j0, j1 - j0,
                                      row_max[r], log(row_total[r]))
        return 0
    finally:
        free(part_max)
        free(part_sum)
        free(row_max)
        free(row_total)


cdef inline double exp_of_diff(double v, double m) noexcept nogil:
    """exp(v - m) for doubles v <= m (-inf v gives 0)."""
    return fs_exp_diff_nonpositive(v, m)


cdef int rows_split(Op op, const floating* x, const floating* dy, const mask_t* mask,
                    floating* out, Py_ssize_t outer, Py_ssize_t n, int nthreads,
                    Py_ssize_t parts, bint stream, bint exact) except -1 nogil:
    cdef Py_ssize_t tasks = outer * parts
    cdef Py_ssize_t t, r, p, j0, j1
    cdef double* part_max = <double*>malloc(tasks * sizeof(double))
    cdef double* part_sum = <double*>malloc(tasks * sizeof(double))
    cdef double* row_shift_ = <double*>malloc(outer * sizeof(double))
    cdef double* row_total = <double*>malloc(outer * sizeof(double))
    cdef bint* part_found = <bint*>malloc(tasks * sizeof(bint))
    cdef bint* row_found = <bint*>malloc(outer * sizeof(bint))
    cdef double total, comp, m
    cdef bint found
    cdef bint forward = op == SOFTMAX or op == LOG_SOFTMAX or op == LOGSUMEXP
    try:
        if (part_max == NULL or part_sum == NULL or row_shift_ == NULL or row_total == NULL
                or part_found == NULL or row_found == NULL):
            with gil:
                raise MemoryError()

        # Pass 1 (forward functions): maxima of the pieces, then of the rows.
        if forward:
            for t in prange(tasks, schedule='static', num_threads=nthreads):
                j0 = (t % parts) * n // parts
                j1 = (t % parts + 1) * n // parts
                r = t // parts
                part_max[t] = row_shift(x + r * n + j0, NULL if mask == NULL else mask + r * n + j0,
                                        j1 - j0, &part_found[t], 0)
            for r in range(outer):
                m = -INFINITY
                found = False
                for p in range(parts):
                    if part_found[r * parts + p]:
                        found = True
                        m = part_max[r * parts + p] if part_max[r * parts + p] > m else m
                row_shift_[r] = m
                row_found[r] = found

        # Pass 2: the pieces' sums (softmax also stores the exps).
        for t in prange(tasks, schedule='static', num_threads=nthreads):
            j0 = (t % parts) * n // parts
            j1 = (t % parts + 1) * n // parts
            r = t // parts
            part_sum[t] = split_sum(op, x + r * n + j0, NULL if dy == NULL else dy + r * n + j0,
                                    NULL if mask == NULL else mask + r * n + j0,
                                    out + r * n + j0, j1 - j0, row_shift_[r] if forward else 0.0,
                                    row_found[r] if forward else True, &part_max[t], exact)
        for r in range(outer):
            total = 0.0
            comp = 0.0
            for p in range(parts):
                fs_kahan_add(&total, &comp, part_sum[r * parts + p])
            row_total[r] = total

        # Pass 3: write the pieces (logsumexp writes one value per row).
        if op == LOGSUMEXP:
            for r in range(outer):
                out[r] = <floating>logsumexp_finish(x + r * n,
                                                    NULL if mask == NULL else mask + r * n,
                                                    n, row_shift_[r], row_found[r], row_total[r])
            return 0
        for t in prange(tasks, schedule='static', num_threads=nthreads):
            j0 = (t % parts) * n // parts
            j1 = (t % parts + 1) * n // parts
            r = t // parts
            split_write(op, x + r * n + j0, NULL if dy == NULL else dy + r * n + j0,
                        NULL if mask == NULL else mask + r * n + j0, out + r * n + j0, j1 - j0,
                        row_shift_[r] if forward else 0.0, row_found[r] if forward else True,
                        row_total[r], part_max[t], stream)
        return 0
    finally:
        free(part_max)
        free(part_sum)
        free(row_shift_)
        free(row_total)
        free(part_found)
        free(row_found)


cdef inline double split_sum(Op op, const floating* x, const floating* dy, const mask_t* mask,
                             floating* out, Py_ssize_t n, double shift,
                             bint found, double* ymax, bint exact) noexcept nogil:
    """Pass 2 of rows_split on one piece (log_softmax_backward also sets
    ymax, the piece's max of y; exact: softmax's exps as exp_stored takes
    them)."""
    if op == SOFTMAX:
        if not found:
            return 0.0
        if mask == NULL:
            return piece_exp_store_sum(x, out, n, shift, exact)
        return piece_exp_store_sum_masked(x, mask, out, n, shift, False)
    if op == LOG_SOFTMAX or op == LOGSUMEXP:
        if not found or shift - shift != 0.0:  # the sum is NaN or unused
            return NAN if found else 0.0
        return row_sum_exp(x, mask, n, shift)
    if op == SOFTMAX_BACKWARD:
        return piece_dot(x, dy, n)
    return piece_sum_max(dy, x, n, ymax)


cdef inline void split_write(Op op, const floating* x, const floating* dy, const mask_t* mask,
                             floating* out, Py_ssize_t n, double shift, bint found,
                             double total, double ymax, bint stream) noexcept nogil:
    """Pass 3 of rows_split on one piece (ymax: for log_softmax_backward, the
    piece's max of y from pass 2)."""
    if op == SOFTMAX:
        if found:
            piece_scale(out, mask, n, 1.0 / total)
        else:
            piece_fill(out, n, 0.0)
    elif op == LOG_SOFTMAX:
        if found:
            piece_log_softmax(x, mask, out, n, shift, log(total))
        else:
            piece_fill(out, n, -INFINITY)
    elif op == SOFTMAX_BACKWARD:
        piece_softmax_backward(x, dy, out, n, total, stream)
        if stream:
            fs_stream_fence()  # once per piece: pieces are long
    else:
        piece_log_softmax_backward(x, dy, out, n, total, ymax)


# ---------------------------------------------------------------------------
# Columns (non-last axis): a chunk of w columns of one (n, inner) slab.  x, dy,
# mask, out point at the chunk's first column in row 0; element (j, i) is at
# [j * stride + i].  Per-column state lives in float64 scratch of length w:
# col_max, col_sum, col_comp (Kahan compensation), and col_found.  The inner
# loops run along i, the contiguous axis, and vectorize.


cdef inline void cols_max(const floating* x, const mask_t* mask, Py_ssize_t n,
                          Py_ssize_t stride, Py_ssize_t w, floating* col_max,
                          mask_t* col_found) noexcept nogil:
    """Column maxima, in the data's dtype (exact, and float32 maxima feed
    float32 exps without conversions)."""
    cdef Py_ssize_t i, j
    cdef const floating* xr
    cdef const mask_t* mr
    cdef floating v
    for i in range(w):
        col_max[i] = -INFINITY
    if mask == NULL:
        memset(col_found, 1, w)
        for j in range(n):
            xr = x + j * stride
            if j + PREFETCH_ROWS < n:
                fs_prefetch_lines(xr + PREFETCH_ROWS * stride, w * sizeof(floating))
            for i in range(w):
                col_max[i] = xr[i] if xr[i] > col_max[i] else col_max[i]
    else:
        # (Two loops, so that each vectorizes: one loop with the three
        # pointers ran scalar, (10000, 512) float32 softmax 36 ms.)
        memset(col_found, 0, w)
        for j in range(n):
            xr = x + j * stride
            mr = mask + j * stride
            if j + PREFETCH_ROWS < n and w >= 64:  # (narrower chunks lost 2-4%)
                fs_prefetch_lines(xr + PREFETCH_ROWS * stride, w * sizeof(floating))
                fs_prefetch_lines(mr + PREFETCH_ROWS * stride, w)
            for i in range(w):  # x read whatever the mask (see piece_max_masked)
                v = xr[i]
                v = v if mr[i] else -INFINITY
                col_max[i] = v if v > col_max[i] else col_max[i]
            for i in range(w):
                col_found[i] |= mr[i]


cdef inline void cols_sum_exp(const floating* x, const mask_t* mask, floating* out,
                              Py_ssize_t n, Py_ssize_t stride, Py_ssize_t w,
                              const floating* col_max, double* col_sum,
                              double* col_comp, bint exact) noexcept nogil:
    """Column sums of exp(x - col_max); stores the exps in out unless out is
    NULL (exact: unmasked, as exp_stored takes them)."""
    cdef Py_ssize_t i, j
    cdef const floating* xr
    cdef const mask_t* mr
    cdef floating* orow
    cdef double e
    for i in range(w):
        col_sum[i] = 0.0
        col_comp[i] = 0.0
    for j in range(n):
        xr = x + j * stride
        mr = NULL if mask == NULL else mask + j * stride
        if mask == NULL and out != NULL and exact:
            orow = out + j * stride
            for i in range(w):
                e = exp_stored(xr[i], col_max[i], True)
                orow[i] = <floating>e
                add_to(&col_sum[i], &col_comp[i], e, floating is double)
        elif mask == NULL and out != NULL:
            orow = out + j * stride
            for i in range(w):
                e = exp_shifted(xr[i], col_max[i])
                orow[i] = <floating>e
                add_to(&col_sum[i], &col_comp[i], e, floating is double)
        elif mask == NULL:
            for i in range(w):
                add_to(&col_sum[i], &col_comp[i], exp_shifted_sum(xr[i], col_max[i]),
                       floating is double)
        elif out != NULL:
            orow = out + j * stride
            for i in range(w):
                e = exp_shifted(xr[i], col_max[i])
                e = e if mr[i] else 0.0
                orow[i] = <floating>e
                add_to(&col_sum[i], &col_comp[i], e, floating is double)
        else:
            for i in range(w):
                e = exp_shifted_sum(xr[i], col_max[i])
                e = e if mr[i] else 0.0
                add_to(&col_sum[i], &col_comp[i], e, floating is double)
    for i in range(w):
        col_sum[i] -= col_comp[i]


cdef inline void cols_sum_dy(const floating* y, const floating* dy, bint times_y, Py_ssize_t n,
                             Py_ssize_t stride, Py_ssize_t w, double* col_sum,
                             double* col_comp, double* col_ymax) noexcept nogil:
    """Column sums of dy * y (times_y) or of dy; without times_y, also the
    columns' max of y into col_ymax (in the same pass: log_softmax_backward
    needs it to choose its exp)."""
    cdef Py_ssize_t i, j
    cdef const floating* yr
    cdef const floating* dyr
    for i in range(w):
        col_sum[i] = 0.0
        col_comp[i] = 0.0
        if not times_y:
            col_ymax[i] = -INFINITY
    for j in range(n):
        yr = y + j * stride
        dyr = dy + j * stride
        if j + PREFETCH_ROWS < n:
            fs_prefetch_lines(dyr + PREFETCH_ROWS * stride, w * sizeof(floating))
            fs_prefetch_lines(yr + PREFETCH_ROWS * stride, w * sizeof(floating))
        if times_y:
            for i in range(w):
                add_to(&col_sum[i], &col_comp[i], <double>dyr[i] * yr[i], floating is double)
        else:
            for i in range(w):
                add_to(&col_sum[i], &col_comp[i], dyr[i], floating is double)
                col_ymax[i] = yr[i] if yr[i] > col_ymax[i] else col_ymax[i]
    for i in range(w):
        col_sum[i] = plain_if_nonfinite(col_sum[i] - col_comp[i], dy + i,
                                        y + i if times_y else NULL, n, stride)


cdef void cols_softmax(const floating* x, const mask_t* mask, floating* out,
                       Py_ssize_t n, Py_ssize_t stride, Py_ssize_t w, floating* col_max,
                       double* col_sum, double* col_comp,
                       mask_t* col_found, bint stream, bint exact) noexcept nogil:
    """stream: the exps are taken again from x in the last pass and written
    with streaming stores, for unmasked calls whose columns are too long for
    cols_pipelined's buffer of exps (more than 8192 float32 or 4096 float64
    rows)."""
    cdef Py_ssize_t i, j
    cdef floating* orow
    cdef const floating* xr
    cdef const mask_t* mr
    cdef floating v
    # The reciprocals in the data's precision (as piece_scale: a float32
    # product vectorizes twice as wide and needs no conversions).
    cdef floating* inv = <floating*>col_comp  # free after cols_sum_exp
    cdef floating buf[MAX_COLUMN_CHUNK + 16]
    cdef floating* b = buf + to_alignment(buf, sizeof(floating))
    cols_max(x, mask, n, stride, w, col_max, col_found)
    if stream and mask == NULL:
        cols_sum_exp(x, NULL, NULL, n, stride, w, col_max, col_sum, col_comp, False)
        for i in range(w):
            inv[i] = <floating>(1.0 / col_sum[i])
        for j in range(n):
            xr = x + j * stride
            if exact:
                for i in range(w):
                    b[i] = exp_stored(xr[i], col_max[i], True) * inv[i]
            else:
                for i in range(w):
                    b[i] = exp_shifted(xr[i], col_max[i]) * inv[i]
            stream_copy(out + j * stride, b, w)
        return
    cols_sum_exp(x, mask, out, n, stride, w, col_max, col_sum, col_comp, exact)
    for i in range(w):
        inv[i] = <floating>(1.0 / col_sum[i])
    for j in range(n):
        orow = out + j * stride
        if mask == NULL:
            for i in range(w):
                orow[i] = orow[i] * inv[i]
        else:
            mr = mask + j * stride
            for i in range(w):
                v = orow[i] * inv[i]
                orow[i] = v if mr[i] & col_found[i] else 0.0


cdef inline bint fold_logs(const floating* col_max, double* col_sum, Py_ssize_t w,
                           bint allowed) noexcept nogil:
    """col_sum[i] = log(col_sum[i]); or, where allowed, for float32 columns
    whose maxima are all finite and below 2^20 in magnitude, col_max[i] +
    log(col_sum[i]) (returns True): log_softmax is then x - that, in
    double, one subtraction per element (see piece_log_softmax)."""
    cdef Py_ssize_t i
    cdef bint small = floating is float and allowed
    if small:
        for i in range(w):
            small &= fabs(col_max[i]) < 1048576.0  # false for inf and NaN
    if small:
        for i in range(w):
            col_sum[i] = col_max[i] + log(col_sum[i])
    else:
        for i in range(w):
            col_sum[i] = log(col_sum[i])
    return small


cdef void cols_log_softmax(const floating* x, const mask_t* mask, floating* out,
                           Py_ssize_t n, Py_ssize_t stride, Py_ssize_t w,
                           floating* col_max, double* col_sum, double* col_comp,
                           mask_t* col_found) noexcept nogil:
    """One chunk at a time: masked calls, and results too small to stream.
    (Unmasked calls that stream take cols_pipelined.  Streaming one chunk at
    a time measured, on (1000, 8192) axis=0, out=, 2 threads, ms: float32
    3.3-3.8 -> 2.95-3.0, float64 7.1-8.1 -> 7.2-8.9; the backward passes,
    whose chunks overflow L2, were slower streamed: softmax_backward float32
    1.85 -> 2.2.)"""
    cdef Py_ssize_t i, j
    cdef floating* orow
    cdef const floating* xr
    cdef const mask_t* mr
    cdef floating v
    cols_max(x, mask, n, stride, w, col_max, col_found)
    cols_sum_exp(x, mask, NULL, n, stride, w, col_max, col_sum, col_comp, False)
    cdef bint folded = fold_logs(col_max, col_sum, w, mask == NULL)
    for j in range(n):
        xr = x + j * stride
        orow = out + j * stride
        if folded:
            for i in range(w):
                orow[i] = <floating>(xr[i] - col_sum[i])
        elif mask == NULL:
            for i in range(w):
                orow[i] = log_softmax_value(xr[i], col_max[i], col_sum[i])
        else:
            mr = mask + j * stride
            for i in range(w):
                v = log_softmax_value(xr[i], col_max[i], col_sum[i])
                orow[i] = v if mr[i] & col_found[i] else -INFINITY


cdef inline void cols_logsumexp(const floating* x, const mask_t* mask, floating* out,
                                Py_ssize_t n, Py_ssize_t stride, Py_ssize_t w, floating* col_max,
                                double* col_sum, double* col_comp,
                                mask_t* col_found) noexcept nogil:
    """out[i] = logsumexp of column i (out is the chunk's first result)."""
    cols_max(x, mask, n, stride, w, col_max, col_found)
    cols_sum_exp(x, mask, NULL, n, stride, w, col_max, col_sum, col_comp, False)
    cols_logsumexp_finish(x, mask, out, n, stride, w, col_max, col_sum, col_found)


cdef inline void cols_logsumexp_finish(const floating* x, const mask_t* mask, floating* out,
                                       Py_ssize_t n, Py_ssize_t stride, Py_ssize_t w,
                                       const floating* col_max, const double* col_sum,
                                       const mask_t* col_found) noexcept nogil:
    """out[i] = logsumexp of column i from its max and its sum of exps."""
    cdef Py_ssize_t i, j
    cdef double m
    cdef bint has_nan
    for i in range(w):
        m = col_max[i]
        if not col_found[i]:
            out[i] = -INFINITY
        elif m - m == 0.0:
            out[i] = <floating>(m + log(col_sum[i]))
        else:
            # Rare: +-inf max; scan the column for NaN, which beats +inf and -inf.
            has_nan = False
            for j in range(n):
                if x[j * stride + i] != x[j * stride + i] and (mask == NULL or mask[j * stride + i]):
                    has_nan = True
            out[i] = <floating>(NAN if has_nan else m)


cdef inline double cols_abs_max(const double* col_sum, Py_ssize_t w, bint signed) noexcept nogil:
    """max |col_sum[i]|, or max col_sum[i] (from -inf) when signed."""
    cdef double m = -INFINITY if signed else 0.0, v
    cdef Py_ssize_t i
    for i in range(w):
        v = col_sum[i] if signed else fabs(col_sum[i])
        m = v if v > m else m
    return m


cdef inline void cols_softmax_backward(const floating* y, const floating* dy, floating* out,
                                       Py_ssize_t n, Py_ssize_t stride, Py_ssize_t w,
                                       double* col_sum, double* col_comp) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef const floating* yr
    cdef const floating* dyr
    cdef floating* orow
    cdef float* sum32 = <float*>col_comp  # free after cols_sum_dy
    cols_sum_dy(y, dy, True, n, stride, w, col_sum, col_comp, NULL)
    if floating is float:
        if softmax_backward_in_float(cols_abs_max(col_sum, w, False)):
            for i in range(w):
                sum32[i] = <float>col_sum[i]
            for j in range(n):
                yr = y + j * stride
                dyr = dy + j * stride
                orow = out + j * stride
                for i in range(w):
                    orow[i] = yr[i] * (dyr[i] - sum32[i])
            return
    for j in range(n):
        yr = y + j * stride
        dyr = dy + j * stride
        orow = out + j * stride
        for i in range(w):
            orow[i] = <floating>(yr[i] * (dyr[i] - col_sum[i]))


cdef inline void cols_log_softmax_backward(const floating* y, const floating* dy, floating* out,
                                           Py_ssize_t n, Py_ssize_t stride, Py_ssize_t w,
                                           double* col_ymax, double* col_sum,
                                           double* col_comp) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef const floating* yr
    cdef const floating* dyr
    cdef floating* orow
    cdef float* sum32 = <float*>col_comp  # free after cols_sum_dy
    cdef ExpMode mode
    cols_sum_dy(y, dy, False, n, stride, w, col_sum, col_comp, col_ymax)
    mode = log_softmax_backward_mode(y, cols_abs_max(col_ymax, w, True),
                                     cols_abs_max(col_sum, w, False))
    for i in range(w):
        sum32[i] = <float>col_sum[i]
    for j in range(n):
        yr = y + j * stride
        dyr = dy + j * stride
        orow = out + j * stride
        if mode == EXP_ANY:
            for i in range(w):
                orow[i] = log_softmax_backward_value(yr[i], dyr[i], col_sum[i], sum32[i], EXP_ANY)
        elif mode == EXP_SMALL:
            for i in range(w):
                orow[i] = log_softmax_backward_value(yr[i], dyr[i], col_sum[i], sum32[i],
                                                     EXP_SMALL)
        else:
            for i in range(w):
                orow[i] = log_softmax_backward_value(yr[i], dyr[i], col_sum[i], sum32[i],
                                                     EXP_FLOAT)


# Columns, pipelined: each thread takes a run of consecutive chunks, and a
# chunk's passes run row by row beside another chunk's pass that is bound by
# something else, instead of one after the other, so that memory traffic
# overlaps arithmetic.  Two chunks live at once (PIPE_CHUNK_BYTES each: both
# stay in L2), each with a slot of 3 * chunk doubles of scratch (column
# maxima in the data's dtype, sums, compensations; then logs, or reciprocals
# in place of the compensations).  Unmasked calls only.
# - softmax and log_softmax (results of STREAM_MIN_BYTES and more): a
#   chunk's last pass, which writes (with streaming stores), beside the next
#   chunk's sums of exps.  softmax keeps each chunk's exps in a buffer (n *
#   chunk elements of the data's dtype), which the last pass scales: the
#   arithmetic of the plain path, which stores the exps in out.
# - logsumexp (any size): a chunk's maxima, which read from memory, beside
#   the previous chunk's sums of exps.
# (1000, 8192) axis=0, out=, 2 threads, ms, medians of 31 over three
# alternating runs, one chunk at a time / pipelined: log_softmax float64
# 7.39-7.72 / 5.73-5.89, float32 2.2-2.7 / 2.2-2.4; softmax (which took its
# exps again from x in the last pass) float64 6.46-6.85 / 5.45-5.68, float32
# 2.84-3.08 / 2.44-2.63; logsumexp float64 4.06-4.16 / 3.71-3.86, float32
# 1.78-1.81 / 1.48-1.54.  Chunks of 2^18 bytes were slower than one chunk at
# a time; 2^20: log_softmax float64 6.7.  The backward passes were no faster
# pipelined.


cdef inline void pipe_sum_row(Op op, const floating* xr, floating* er, Py_ssize_t w,
                              const floating* col_max, double* col_sum,
                              double* col_comp, bint exact) noexcept nogil:
    """One row's exps into the column sums (softmax: also into er; exact: as
    exp_stored takes them)."""
    cdef Py_ssize_t i
    cdef floating e
    if op == SOFTMAX and exact:
        for i in range(w):
            e = exp_stored(xr[i], col_max[i], True)
            er[i] = e
            add_to(&col_sum[i], &col_comp[i], e, floating is double)
    elif op == SOFTMAX:
        for i in range(w):
            e = exp_shifted(xr[i], col_max[i])
            er[i] = e
            add_to(&col_sum[i], &col_comp[i], e, floating is double)
    else:
        for i in range(w):
            add_to(&col_sum[i], &col_comp[i], exp_shifted_sum(xr[i], col_max[i]),
                   floating is double)


cdef inline void pipe_write_row(Op op, const floating* xr, const floating* er, floating* orow,
                                Py_ssize_t w, const double* slot, Py_ssize_t chunk,
                                bint folded, floating* b) noexcept nogil:
    """One row of a chunk's last pass, through the L1 buffer b, streamed out
    (folded: the slot holds max + log, see fold_logs)."""
    cdef Py_ssize_t i
    cdef const floating* col_max = <const floating*>slot
    cdef const double* col_log = slot + chunk
    cdef const floating* inv = <const floating*>(slot + 2 * chunk)
    if op == SOFTMAX:
        for i in range(w):
            b[i] = er[i] * inv[i]
    elif folded:
        for i in range(w):
            b[i] = <floating>(xr[i] - col_log[i])
    else:
        for i in range(w):
            b[i] = log_softmax_value(xr[i], col_max[i], col_log[i])
    stream_copy(orow, b, w)


cdef void cols_pipelined(Op op, const floating* x, floating* out, Py_ssize_t n,
                         Py_ssize_t inner, Py_ssize_t chunk, Py_ssize_t chunks, Py_ssize_t t0,
                         Py_ssize_t t1, double* scratch, floating* exps,
                         mask_t* col_found, bint exact) noexcept nogil:
    """Tasks t0 <= t < t1 of cols (chunk t % chunks of block t // chunks);
    scratch: two slots of 3 * chunk doubles; exps (softmax): two buffers of
    n * chunk elements.  While a chunk's sums take its exps, row by row, the
    next chunk's rows are prefetched, for its maxima to read from cache
    (axis=0, out=, 2 threads, speed-up: (1000, 8192) softmax float32 1.04,
    float64 1.05, log_softmax 1.02 / 0.99; (512, 16384) 1.01 to 1.06;
    (200, 65536) 1.06 to 1.10)."""
    cdef Py_ssize_t t, i, j, w, i0, base, pw = 0, pbase = 0, next_i0, next_base, next_w
    cdef bint pending = False, folded = False, prev_folded = False
    cdef double* cur = scratch
    cdef double* prev = scratch + 3 * chunk
    cdef floating* cur_exps = exps
    cdef floating* prev_exps = NULL if exps == NULL else exps + n * chunk
    cdef double* swap
    cdef floating* swap_exps
    cdef floating* cur_max
    cdef double* cur_sum
    cdef double* cur_comp
    cdef floating* inv
    cdef floating buf[MAX_COLUMN_CHUNK + 16]
    cdef floating* b = buf + to_alignment(buf, sizeof(floating))
    cdef Py_ssize_t lead = column_lead(x, inner, sizeof(floating))
    for t in range(t0, t1):
        i0 = chunk_start(t % chunks, chunk, lead, inner)
        w = chunk_start(t % chunks + 1, chunk, lead, inner) - i0
        base = (t // chunks) * n * inner + i0
        cur_max = <floating*>cur
        cur_sum = cur + chunk
        cur_comp = cur + 2 * chunk
        cols_max(x + base, NULL, n, inner, w, cur_max, col_found)
        for i in range(w):
            cur_sum[i] = 0.0
            cur_comp[i] = 0.0
        next_w = 0
        if t + 1 < t1:
            next_i0 = chunk_start((t + 1) % chunks, chunk, lead, inner)
            next_w = chunk_start((t + 1) % chunks + 1, chunk, lead, inner) - next_i0
            next_base = ((t + 1) // chunks) * n * inner + next_i0
        for j in range(n):
            if next_w:
                fs_prefetch_lines(x + next_base + j * inner, next_w * sizeof(floating))
            pipe_sum_row(op, x + base + j * inner, cur_exps + j * w if op == SOFTMAX else NULL,
                         w, cur_max, cur_sum, cur_comp, exact)
            if pending:
                pipe_write_row(op, x + pbase + j * inner,
                               prev_exps + j * pw if op == SOFTMAX else NULL,
                               out + pbase + j * inner, pw, prev, chunk, prev_folded, b)
        if op == SOFTMAX:
            inv = <floating*>cur_comp
            for i in range(w):
                cur_sum[i] -= cur_comp[i]
                inv[i] = <floating>(1.0 / cur_sum[i])
        else:
            for i in range(w):
                cur_sum[i] -= cur_comp[i]
            folded = fold_logs(cur_max, cur_sum, w, True)
        swap = prev
        prev = cur
        cur = swap
        swap_exps = prev_exps
        prev_exps = cur_exps
        cur_exps = swap_exps
        pw = w
        pbase = base
        prev_folded = folded
        pending = True
    if pending:
        for j in range(n):
            pipe_write_row(op, x + pbase + j * inner, prev_exps + j * pw if op == SOFTMAX else NULL,
                           out + pbase + j * inner, pw, prev, chunk, prev_folded, b)


cdef void cols_logsumexp_pipelined(const floating* x, floating* out, Py_ssize_t n,
                                   Py_ssize_t inner, Py_ssize_t chunk, Py_ssize_t chunks,
                                   Py_ssize_t t0, Py_ssize_t t1, double* scratch,
                                   mask_t* col_found) noexcept nogil:
    """Tasks t0 <= t < t1 of cols (chunk t % chunks of block t // chunks):
    each chunk's maxima beside the previous chunk's sums of exps, and a last
    round of sums alone; scratch: two slots of 3 * chunk doubles."""
    cdef Py_ssize_t t, i, j, w = 0, i0 = 0, base = 0, pw = 0, pbase = 0, pout = 0
    cdef Py_ssize_t ahead = PREFETCH_ROWS * inner
    cdef bint pending = False
    cdef double* cur = scratch
    cdef double* prev = scratch + 3 * chunk
    cdef double* swap
    cdef floating* cur_max
    cdef floating* prev_max
    cdef const floating* xr
    cdef Py_ssize_t lead = column_lead(x, inner, sizeof(floating))
    memset(col_found, 1, chunk)
    for t in range(t0, t1 + 1):
        if t < t1:
            i0 = chunk_start(t % chunks, chunk, lead, inner)
            w = chunk_start(t % chunks + 1, chunk, lead, inner) - i0
            base = (t // chunks) * n * inner + i0
            cur_max = <floating*>cur
            for i in range(w):
                cur_max[i] = -INFINITY
        prev_max = <floating*>prev
        if pending:
            for i in range(pw):
                prev[chunk + i] = 0.0
                prev[2 * chunk + i] = 0.0
        for j in range(n):
            if t < t1:
                xr = x + base + j * inner
                if j + PREFETCH_ROWS < n:
                    fs_prefetch_lines(xr + ahead, w * sizeof(floating))
                for i in range(w):
                    cur_max[i] = xr[i] if xr[i] > cur_max[i] else cur_max[i]
            if pending:
                xr = x + pbase + j * inner
                for i in range(pw):
                    add_to(&prev[chunk + i], &prev[2 * chunk + i],
                           exp_shifted_sum(xr[i], prev_max[i]), floating is double)
        if pending:
            for i in range(pw):
                prev[chunk + i] -= prev[2 * chunk + i]
            cols_logsumexp_finish(x + pbase, NULL, out + pout, n, inner, pw, prev_max,
                                  prev + chunk, col_found)
        swap = prev
        prev = cur
        cur = swap
        pw = w
        pbase = base
        pout = (t // chunks) * inner + i0  # where this chunk's results go
        pending = t < t1


cdef inline Py_ssize_t column_chunk(Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize) noexcept nogil:
    """Columns per task: n x chunk elements fill about COLUMN_CHUNK_BYTES, a
    multiple of 16 columns (one or more cache lines) between 16 and
    MAX_COLUMN_CHUNK."""
    return column_chunk_bytes(n, inner, itemsize, COLUMN_CHUNK_BYTES)


cdef inline Py_ssize_t column_chunk_bytes(Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize,
                                          Py_ssize_t nbytes) noexcept nogil:
    """column_chunk for chunks of about nbytes."""
    cdef Py_ssize_t chunk = nbytes // (n * itemsize)
    chunk = chunk - chunk % 16
    if chunk < 16:
        chunk = 16
    if chunk > MAX_COLUMN_CHUNK:
        chunk = MAX_COLUMN_CHUNK
    return inner if inner < chunk else chunk


cdef inline Py_ssize_t column_lead(const void* x, Py_ssize_t inner,
                                   Py_ssize_t itemsize) noexcept nogil:
    """Columns before x's first 64-byte boundary, where the chunks of cols
    and cols_pipelined_run begin after a first chunk of these alone (see
    chunk_start), so that every row of every other chunk starts on a cache
    line; 0 (chunks from column 0) where rows are not a whole number of
    cache lines apart, are shorter than COLUMN_LEAD_MIN_BYTES, or where x
    is on a boundary.  (The bands of cols_bands keep their groups: a group
    of the lead's columns alone cost (10000, 512) float32
    log_softmax_backward 0.91x, and (1000, 8192) gained 0.98 to 1.08x.)  NumPy's large arrays
    begin 16 bytes past one: with AVX-512, every vector of a chunk's rows
    straddled two lines.  (1000, 8192) axis=0 float32, out=, 2 threads,
    side by side, 64-byte-aligned arrays against NumPy's before this:
    softmax 1.26x, softmax_backward 1.12x, log_softmax_backward 1.11x,
    log_softmax 1.08x.)"""
    cdef Py_ssize_t lead
    if (inner * itemsize) % 64 or inner * itemsize < COLUMN_LEAD_MIN_BYTES:
        return 0
    return to_alignment(x, itemsize)


cdef inline Py_ssize_t chunk_start(Py_ssize_t k, Py_ssize_t chunk, Py_ssize_t lead,
                                   Py_ssize_t inner) noexcept nogil:
    """The first column of chunk k (k = chunks: inner): chunk 0 starts at
    column 0, and with a lead (column_lead) it holds the lead's columns
    alone; each later chunk holds chunk columns (the last, what is left)."""
    if k == 0:
        return 0
    return min(inner, lead + (k - 1) * chunk if lead else k * chunk)


cdef inline Py_ssize_t chunk_count(Py_ssize_t chunk, Py_ssize_t lead,
                                   Py_ssize_t inner) noexcept nogil:
    """How many chunks chunk_start makes of inner columns."""
    if lead:
        return 1 + (inner - lead + chunk - 1) // chunk
    return (inner + chunk - 1) // chunk


cdef inline void cols_task(Op op, const floating* x, const floating* dy, const mask_t* mask,
                           floating* out, Py_ssize_t n, Py_ssize_t inner, Py_ssize_t chunk,
                           Py_ssize_t chunks, Py_ssize_t t, double* scratch,
                           mask_t* col_found, bint stream, bint exact) noexcept nogil:
    """Task t of cols: chunk t % chunks of the columns of block t // chunks
    (exact: softmax's exps as exp_stored takes them)."""
    cdef Py_ssize_t o = t // chunks
    cdef Py_ssize_t lead = column_lead(x, inner, sizeof(floating))
    cdef Py_ssize_t i0 = chunk_start(t % chunks, chunk, lead, inner)
    cdef Py_ssize_t w = chunk_start(t % chunks + 1, chunk, lead, inner) - i0
    cdef Py_ssize_t base = o * n * inner + i0
    if op == SOFTMAX:
        cols_softmax(x + base, NULL if mask == NULL else mask + base, out + base, n,
                     inner, w, <floating*>scratch, scratch + chunk, scratch + 2 * chunk,
                     col_found, stream, exact)
    elif op == LOG_SOFTMAX:
        cols_log_softmax(x + base, NULL if mask == NULL else mask + base, out + base, n,
                         inner, w, <floating*>scratch, scratch + chunk, scratch + 2 * chunk,
                         col_found)
    elif op == LOGSUMEXP:
        cols_logsumexp(x + base, NULL if mask == NULL else mask + base, out + o * inner + i0,
                       n, inner, w, <floating*>scratch, scratch + chunk, scratch + 2 * chunk,
                       col_found)
    elif op == SOFTMAX_BACKWARD:
        cols_softmax_backward(x + base, dy + base, out + base, n, inner, w,
                              scratch + chunk, scratch + 2 * chunk)
    else:
        cols_log_softmax_backward(x + base, dy + base, out + base, n, inner, w,
                                  scratch, scratch + chunk, scratch + 2 * chunk)


cdef inline void pipelined_task(Op op, const floating* x, floating* out, Py_ssize_t n,
                                Py_ssize_t inner, Py_ssize_t chunk, Py_ssize_t chunks,
                                Py_ssize_t t0, Py_ssize_t t1, double* scratch, floating* exps,
                                mask_t* col_found, bint exact) noexcept nogil:
    if op == LOGSUMEXP:
        cols_logsumexp_pipelined(x, out, n, inner, chunk, chunks, t0, t1, scratch, col_found)
    else:
        cols_pipelined(op, x, out, n, inner, chunk, chunks, t0, t1, scratch, exps, col_found,
                       exact)


cdef int cols_pipelined_run(Op op, const floating* x, floating* out, Py_ssize_t outer,
                            Py_ssize_t n, Py_ssize_t inner, int nt,
                            bint exact) except -1 nogil:
    """cols for the pipelined kernels: each of nt threads takes a run of
    consecutive chunks, with its own scratch (two slots of 3 * chunk doubles,
    and for softmax two buffers of n * chunk exps)."""
    cdef Py_ssize_t chunk = column_chunk_bytes(n, inner, sizeof(floating), PIPE_CHUNK_BYTES)
    cdef Py_ssize_t chunks = chunk_count(chunk, column_lead(x, inner, sizeof(floating)), inner)
    cdef Py_ssize_t tasks = outer * chunks, tid
    cdef Py_ssize_t exps_size = 2 * n * chunk if op == SOFTMAX else 0
    cdef double* scratch
    cdef floating* exps
    cdef mask_t* col_found
    if tasks == 0:
        return 0
    if nt > tasks:
        nt = <int>tasks
    if nt == 1:  # no parallel region (see elementwise)
        scratch = <double*>malloc(6 * chunk * sizeof(double))
        exps = <floating*>malloc(exps_size * sizeof(floating)) if exps_size else NULL
        col_found = <mask_t*>malloc(chunk)
        try:
            if scratch == NULL or col_found == NULL or (exps_size and exps == NULL):
                with gil:
                    raise MemoryError()
            pipelined_task(op, x, out, n, inner, chunk, chunks, 0, tasks, scratch, exps,
                           col_found, exact)
            if op != LOGSUMEXP:
                fs_stream_fence()
        finally:
            free(scratch)
            free(exps)
            free(col_found)
        return 0
    with parallel(num_threads=nt):
        scratch = <double*>malloc(6 * chunk * sizeof(double))
        exps = <floating*>malloc(exps_size * sizeof(floating)) if exps_size else NULL
        col_found = <mask_t*>malloc(chunk)
        if scratch == NULL or col_found == NULL or (exps_size and exps == NULL):
            free(scratch)
            free(exps)
            free(col_found)
            with gil:
                raise MemoryError()
        for tid in prange(nt, schedule='static'):
            pipelined_task(op, x, out, n, inner, chunk, chunks, tid * tasks // nt,
                           (tid + 1) * tasks // nt, scratch, exps, col_found, exact)
        if op != LOGSUMEXP:
            fs_stream_fence()
        free(scratch)
        free(exps)
        free(col_found)
    return 0



# Columns of the backward passes by bands of rows.  The column sums take every
# row before any result, so a chunk of columns (cols_task) reads its rows
# twice as strips one stride apart: near cols_task's chunk size those strips
# are short, (10000, 512) float32 along axis 0 reads one cache line per row.
# Here each thread instead sums a band of whole rows (partial column sums),
# the partials are combined, and each thread writes its band: every pass
# reads memory in order.  (1000, 8192) axis=0, out=, 2 threads, ms, chunks /
# bands: log_softmax_backward float32 3.63 / 3.05, float64 7.58 / 6.47;
# (10000, 512) float32 4.83 / 1.45, float64 10.7 / 3.33; (4096, 4096)
# float64 23.3 / 13.7.  Streaming stores, or the second pass in the reverse
# order of rows (to meet the first's last rows in L3), were slower.


cdef void band_max(const floating* x, const mask_t* mask, Py_ssize_t j0, Py_ssize_t j1,
                   Py_ssize_t stride, Py_ssize_t w, floating* col_max,
                   mask_t* col_found) noexcept nogil:
    """Maxima over rows j0..j1-1 of columns 0..w-1 (as cols_max: NaN skipped,
    masked-out entries ignored) and, with a mask, whether each column has an
    unmasked entry in these rows (see also band_max_sum_plain)."""
    cdef Py_ssize_t i, j
    cdef const floating* xr
    cdef const mask_t* mr
    cdef floating v
    for i in range(w):
        col_max[i] = -INFINITY
    if mask != NULL:
        memset(col_found, 0, w)
    for j in range(j0, j1):
        xr = x + j * stride
        if mask == NULL:
            for i in range(w):
                col_max[i] = xr[i] if xr[i] > col_max[i] else col_max[i]
        else:
            mr = mask + j * stride
            for i in range(w):
                v = xr[i]
                v = v if mr[i] else -INFINITY
                col_max[i] = v if v > col_max[i] else col_max[i]
            for i in range(w):
                col_found[i] |= mr[i]


cdef void band_max_sum_plain(const floating* x, Py_ssize_t j0, Py_ssize_t j1,
                             Py_ssize_t stride, Py_ssize_t w, floating* col_max,
                             double* col_sum, double* col_comp) noexcept nogil:
    """The column maxima over rows j0..j1-1 (NaN skipped) and, in the same
    pass, the column sums of their unshifted exp_plain(x), four rows at a
    time as band_sums (unmasked forward functions, see cols_bands).  The sums
    are right for the columns whose max turns out to allow them
    (plain_exps).  Every PLAIN_CHECK_ROWS rows, a max above PLAIN_MAX ends
    the sums, which that max rules out: the rest of the rows take their
    maxima only (x above PLAIN_MAX gives garbage exps and sums, never
    used)."""
    cdef Py_ssize_t i, j = j0
    cdef const floating* xr
    cdef floating m, v0, v1, v2, v3
    cdef bint below = True
    cdef double limit = PLAIN_MAX_F32 if floating is float else PLAIN_MAX_F64
    for i in range(w):
        col_max[i] = -INFINITY
        col_sum[i] = 0.0
        col_comp[i] = 0.0
    while j + 4 <= j1:
        xr = x + j * stride
        for i in range(w):
            v0 = xr[i]
            v1 = xr[stride + i]
            v2 = xr[2 * stride + i]
            v3 = xr[3 * stride + i]
            m = col_max[i]
            m = v0 if v0 > m else m
            m = v1 if v1 > m else m
            m = v2 if v2 > m else m
            col_max[i] = v3 if v3 > m else m
            add_to(&col_sum[i], &col_comp[i], exp_plain(v0), floating is double)
            add_to(&col_sum[i], &col_comp[i], exp_plain(v1), floating is double)
            add_to(&col_sum[i], &col_comp[i], exp_plain(v2), floating is double)
            add_to(&col_sum[i], &col_comp[i], exp_plain(v3), floating is double)
        j += 4
        if (j - j0) % PLAIN_CHECK_ROWS == 0:
            for i in range(w):
                below &= col_max[i] <= limit
            if not below:
                break
    while j < j1:
        xr = x + j * stride
        if below:
            for i in range(w):
                col_max[i] = xr[i] if xr[i] > col_max[i] else col_max[i]
                add_to(&col_sum[i], &col_comp[i], exp_plain(xr[i]), floating is double)
        else:
            for i in range(w):
                col_max[i] = xr[i] if xr[i] > col_max[i] else col_max[i]
        j += 1


cdef inline bint plain_columns(const floating* col_max, Py_ssize_t w) noexcept nogil:
    """Whether every column's max allows its unshifted sum (plain_exps)."""
    cdef Py_ssize_t i
    cdef bint ok = True
    for i in range(w):
        ok &= plain_exps(col_max, col_max[i])
    return ok


cdef inline void band_term(Op op, const floating* yr, const floating* dyr, Py_ssize_t i,
                           const floating* col_max, double* col_sum,
                           double* col_comp) noexcept nogil:
    """Adds element i of a row to column i's sum (see band_sums)."""
    if op == SOFTMAX or op == LOG_SOFTMAX or op == LOGSUMEXP:
        add_to(&col_sum[i], &col_comp[i], exp_shifted_sum(yr[i], col_max[i]),
               floating is double)
    elif op == SOFTMAX_BACKWARD:
        add_to(&col_sum[i], &col_comp[i], <double>dyr[i] * yr[i], floating is double)
    else:
        add_to(&col_sum[i], &col_comp[i], dyr[i], floating is double)


cdef void band_sums_exact(const floating* y, Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t stride,
                          Py_ssize_t w, const floating* col_max, double* col_sum,
                          floating* exps) noexcept nogil:
    """band_sums' loop of stored float32 exps with exp_stored's exact form
    (a function of its own: see short_exps_exact)."""
    cdef Py_ssize_t i, j = j0
    cdef const floating* yr
    cdef floating* er
    cdef floating e0, e1, e2, e3
    while j < j1:
        yr = y + j * stride
        er = exps + j * stride
        if j + 4 <= j1:
            for i in range(w):
                e0 = exp_stored(yr[i], col_max[i], True)
                e1 = exp_stored(yr[stride + i], col_max[i], True)
                e2 = exp_stored(yr[2 * stride + i], col_max[i], True)
                e3 = exp_stored(yr[3 * stride + i], col_max[i], True)
                er[i] = e0
                er[stride + i] = e1
                er[2 * stride + i] = e2
                er[3 * stride + i] = e3
                col_sum[i] += e0
                col_sum[i] += e1
                col_sum[i] += e2
                col_sum[i] += e3
            j += 4
        else:
            for i in range(w):
                er[i] = exp_stored(yr[i], col_max[i], True)
                col_sum[i] += er[i]
            j += 1


cdef void band_sums(Op op, const floating* y, const floating* dy, const mask_t* mask,
                    Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t stride, Py_ssize_t w,
                    const floating* col_max, double* col_sum, double* col_comp,
                    floating* exps, bint exact) noexcept nogil:
    """Compensated sums over rows j0..j1-1 of columns 0..w-1: of dy * y
    (softmax_backward), of dy (log_softmax_backward), or of exp(y - col_max)
    (the forward functions: y is x; masked-out entries add nothing).
    Unmasked, four rows at a time, in order, so that a column's sum stays in
    a register across them ((1000, 8192) axis=0, out=, ms, one row / four:
    log_softmax_backward float32 2.88 / 2.19, softmax_backward float64 6.3 /
    5.3; (4096, 4096) forward: float32 logsumexp 4.9 / 3.6, softmax 8.2 /
    7.0, float64 softmax 21.6 / 19.7).  One loop per op, free of branches, so
    that gcc vectorizes it, behind up to 17 run-time overlap checks (see
    setup.py): with the op chosen per element the backward loops ran scalar
    ((10000, 512) float32, ms: log_softmax_backward 1.65 -> 1.09,
    softmax_backward 1.48 -> 0.76).  exps (unmasked float32 softmax, else
    NULL; masked too): the exps are also stored there, at the rows' places (out), for
    band_write_forward to scale; in place (out is x) each element is read
    before it is overwritten, and nothing reads x afterwards."""
    cdef Py_ssize_t i, j = j0
    cdef const floating* yr
    cdef const floating* dyr
    cdef const mask_t* mr
    cdef floating* er
    cdef floating e0, e1, e2, e3
    for i in range(w):
        col_sum[i] = 0.0
        col_comp[i] = 0.0
    if floating is float and exps != NULL and mask != NULL:
        for j in range(j0, j1):  # masked-out entries store 0 (every x read)
            yr = y + j * stride
            mr = mask + j * stride
            er = exps + j * stride
            for i in range(w):
                e0 = exp_shifted(yr[i], col_max[i])
                e0 = e0 if mr[i] else 0.0
                er[i] = e0
                col_sum[i] += e0
        return
    if floating is float and exps != NULL and exact:
        band_sums_exact(y, j0, j1, stride, w, col_max, col_sum, exps)
        return
    if floating is float and exps != NULL:
        while j < j1:
            yr = y + j * stride
            er = exps + j * stride
            if j + 4 <= j1:
                for i in range(w):
                    e0 = exp_shifted(yr[i], col_max[i])
                    e1 = exp_shifted(yr[stride + i], col_max[i])
                    e2 = exp_shifted(yr[2 * stride + i], col_max[i])
                    e3 = exp_shifted(yr[3 * stride + i], col_max[i])
                    er[i] = e0
                    er[stride + i] = e1
                    er[2 * stride + i] = e2
                    er[3 * stride + i] = e3
                    col_sum[i] += e0
                    col_sum[i] += e1
                    col_sum[i] += e2
                    col_sum[i] += e3
                j += 4
            else:
                for i in range(w):
                    er[i] = exp_shifted(yr[i], col_max[i])
                    col_sum[i] += er[i]
                j += 1
        return
    while mask == NULL and j + 4 <= j1 and (
            op == SOFTMAX or op == LOG_SOFTMAX or op == LOGSUMEXP):
        yr = y + j * stride
        for i in range(w):
            add_to(&col_sum[i], &col_comp[i], exp_shifted_sum(yr[i], col_max[i]),
                   floating is double)
            add_to(&col_sum[i], &col_comp[i], exp_shifted_sum(yr[stride + i], col_max[i]),
                   floating is double)
            add_to(&col_sum[i], &col_comp[i], exp_shifted_sum(yr[2 * stride + i], col_max[i]),
                   floating is double)
            add_to(&col_sum[i], &col_comp[i], exp_shifted_sum(yr[3 * stride + i], col_max[i]),
                   floating is double)
        j += 4
    while j + 4 <= j1 and op == LOG_SOFTMAX_BACKWARD:
        dyr = dy + j * stride
        for i in range(w):
            add_to(&col_sum[i], &col_comp[i], dyr[i], floating is double)
            add_to(&col_sum[i], &col_comp[i], dyr[stride + i], floating is double)
            add_to(&col_sum[i], &col_comp[i], dyr[2 * stride + i], floating is double)
            add_to(&col_sum[i], &col_comp[i], dyr[3 * stride + i], floating is double)
        j += 4
    while j + 4 <= j1 and op == SOFTMAX_BACKWARD:
        yr = y + j * stride
        dyr = dy + j * stride
        for i in range(w):
            add_to(&col_sum[i], &col_comp[i], <double>dyr[i] * yr[i], floating is double)
            add_to(&col_sum[i], &col_comp[i], <double>dyr[stride + i] * yr[stride + i],
                   floating is double)
            add_to(&col_sum[i], &col_comp[i], <double>dyr[2 * stride + i] * yr[2 * stride + i],
                   floating is double)
            add_to(&col_sum[i], &col_comp[i], <double>dyr[3 * stride + i] * yr[3 * stride + i],
                   floating is double)
        j += 4
    while j < j1:
        yr = y + j * stride
        dyr = dy + j * stride
        if (op == SOFTMAX or op == LOG_SOFTMAX or op == LOGSUMEXP) and mask == NULL:
            for i in range(w):
                add_to(&col_sum[i], &col_comp[i], exp_shifted_sum(yr[i], col_max[i]),
                       floating is double)
        elif op == SOFTMAX or op == LOG_SOFTMAX or op == LOGSUMEXP:
            mr = mask + j * stride
            for i in range(w):
                e0 = exp_shifted_sum(yr[i], col_max[i])
                add_to(&col_sum[i], &col_comp[i], e0 if mr[i] else 0.0, floating is double)
        else:
            for i in range(w):
                band_term(op, yr, dyr, i, col_max, col_sum, col_comp)
        j += 1


cdef void bands_combine(Op op, const floating* y, const floating* dy, Py_ssize_t n,
                        Py_ssize_t stride, Py_ssize_t w, int nt, double* part, float* sum32,
                        double* piece_abs_max) noexcept nogil:
    """Column totals of the nt bands' partial sums (band t's sums and
    compensations at part[2 t w] and part[(2 t + 1) w]) into part[0:w], in
    float32 into sum32, and per piece of BAND_PIECE columns max |total|."""
    cdef Py_ssize_t i, k, pieces = (w + BAND_PIECE - 1) // BAND_PIECE
    cdef double total, comp, err
    for i in range(w):
        total = part[i]
        comp = part[w + i]
        for k in range(1, nt):
            total = fs_two_sum(total, part[2 * k * w + i], &err)
            comp = (comp + part[(2 * k + 1) * w + i]) - err
        if op == SOFTMAX_BACKWARD or op == LOG_SOFTMAX_BACKWARD:
            part[i] = plain_if_nonfinite(total - comp, dy + i,
                                         y + i if op == SOFTMAX_BACKWARD else NULL, n, stride)
            sum32[i] = <float>part[i]
        else:  # sums of exps: finite, or NaN from a NaN term
            part[i] = total - comp
    if op != SOFTMAX_BACKWARD and op != LOG_SOFTMAX_BACKWARD:
        return
    for k in range(pieces):
        piece_abs_max[k] = cols_abs_max(part + k * BAND_PIECE,
                                        min(<Py_ssize_t>BAND_PIECE, w - k * BAND_PIECE), False)


cdef inline void band_softmax_backward(const floating* yr, const floating* dyr, floating* o,
                                       Py_ssize_t c0, Py_ssize_t c1, const double* t,
                                       const float* t32,
                                       const double* piece_abs_max) noexcept nogil:
    """softmax_backward's results of columns c0..c1-1 of a row of a band,
    into o[0:c1-c0]; each piece of BAND_PIECE columns in float32 lanes where
    its max |total| allows (softmax_backward_in_float)."""
    cdef Py_ssize_t i, k, e, s = c0
    while s < c1:
        k = s // BAND_PIECE
        e = min(c1, (k + 1) * <Py_ssize_t>BAND_PIECE)
        if floating is float and softmax_backward_in_float(piece_abs_max[k]):
            for i in range(s, e):
                o[i - c0] = yr[i] * (dyr[i] - t32[i])
        else:
            for i in range(s, e):
                o[i - c0] = <floating>(yr[i] * (dyr[i] - t[i]))
        s = e


cdef void band_write(Op op, const floating* y, const floating* dy, floating* out,
                     Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t stride, Py_ssize_t w,
                     const double* col_sum, const float* sum32,
                     const double* piece_abs_max, bint stream) noexcept nogil:
    """The results of rows j0..j1-1, a piece of BAND_PIECE columns at a time:
    each piece takes its own exp (log_softmax_backward_mode) or float32
    lanes from its max |total| and, for log_softmax_backward, its max of y.
    stream (softmax_backward): each row goes through an L1 buffer, streamed
    to out in chunks that start on out's cache lines (see
    softmax_backward_streamed); the calling thread fences."""
    cdef Py_ssize_t i, j, k, c, pw, pieces = (w + BAND_PIECE - 1) // BAND_PIECE
    cdef const floating* yr
    cdef const floating* dyr
    cdef floating* orow
    cdef const double* t
    cdef const float* t32
    cdef ExpMode mode
    cdef floating buf[STREAM_CHUNK + 16]
    cdef floating* b = buf + to_alignment(buf, sizeof(floating))
    if op == SOFTMAX_BACKWARD:
        for j in range(j0, j1):
            yr = y + j * stride
            dyr = dy + j * stride
            orow = out + j * stride
            if not stream:
                band_softmax_backward(yr, dyr, orow, 0, w, col_sum, sum32, piece_abs_max)
                continue
            c = 0
            k = min(to_alignment(orow, sizeof(floating)), w)
            while c < w:
                pw = k if c == 0 and k else min(<Py_ssize_t>STREAM_CHUNK, w - c)
                band_softmax_backward(yr, dyr, b, c, c + pw, col_sum, sum32, piece_abs_max)
                stream_copy(orow + c, b, pw)
                c += pw
        return
    for j in range(j0, j1):
        for k in range(pieces):
            c = k * BAND_PIECE
            pw = min(<Py_ssize_t>BAND_PIECE, w - c)
            yr = y + j * stride + c
            dyr = dy + j * stride + c
            orow = out + j * stride + c
            t = col_sum + c
            t32 = sum32 + c
            mode = log_softmax_backward_mode(y, piece_max(yr, pw), piece_abs_max[k])
            if mode == EXP_ANY:
                for i in range(pw):
                    orow[i] = log_softmax_backward_value(yr[i], dyr[i], t[i], t32[i], EXP_ANY)
            elif mode == EXP_SMALL:
                for i in range(pw):
                    orow[i] = log_softmax_backward_value(yr[i], dyr[i], t[i], t32[i], EXP_SMALL)
            else:
                for i in range(pw):
                    orow[i] = log_softmax_backward_value(yr[i], dyr[i], t[i], t32[i], EXP_FLOAT)


cdef void band_write_forward(Op op, const floating* x, const mask_t* mask, floating* out,
                             Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t stride, Py_ssize_t w,
                             const floating* col_max, const double* col_log,
                             const floating* inv, bint exps_stored, bint folded) noexcept nogil:
    """softmax (exps taken again from x, or where exps_stored (float32
    only: see cols_bands) those band_sums left in out, times the
    reciprocals inv: the bits of cols_softmax) or
    log_softmax (col_log: logs of the sums, or with folded max + log: see
    fold_logs) of rows j0..j1-1; masked-out
    entries (so every entry of a column with none unmasked) get 0 (softmax) or
    -inf.  Plain stores: streamed through an L1 buffer, as the pipelined
    chunks write, they were slower here (axis=0, out=, 2 threads, ms,
    streamed / plain: float64 softmax (4096, 4096) 18.8 / 16.4, (8192, 1024)
    7.2 / 6.5, log_softmax (10000, 512) 5.1 / 3.5; float32 softmax (10000,
    512) 1.49 / 1.25, log_softmax (4096, 4096) 7.1 / 6.5)."""
    cdef Py_ssize_t i, j, k, c, pw, pieces = (w + BAND_PIECE - 1) // BAND_PIECE
    cdef const floating* xr
    cdef const mask_t* mr
    cdef floating* o
    cdef floating v
    for j in range(j0, j1):
        for k in range(pieces):
            c = k * BAND_PIECE
            pw = min(<Py_ssize_t>BAND_PIECE, w - c)
            xr = x + j * stride + c
            o = out + j * stride + c
            if mask != NULL:
                mr = mask + j * stride + c
                if op == SOFTMAX and exps_stored:  # 0 * inf for a fully masked column
                    for i in range(pw):
                        v = o[i] * inv[c + i]
                        o[i] = v if mr[i] else 0.0
                elif op == SOFTMAX:
                    for i in range(pw):
                        v = exp_shifted(xr[i], col_max[c + i]) * inv[c + i]
                        o[i] = v if mr[i] else 0.0
                else:
                    for i in range(pw):
                        v = log_softmax_value(xr[i], col_max[c + i], col_log[c + i])
                        o[i] = v if mr[i] else -INFINITY
            elif op == SOFTMAX and exps_stored:
                for i in range(pw):
                    o[i] = o[i] * inv[c + i]
            elif op == SOFTMAX:
                for i in range(pw):
                    o[i] = exp_shifted(xr[i], col_max[c + i]) * inv[c + i]
            elif folded:
                for i in range(pw):
                    o[i] = <floating>(xr[i] - col_log[c + i])
            else:
                for i in range(pw):
                    o[i] = log_softmax_value(xr[i], col_max[c + i], col_log[c + i])


cdef inline bint use_bands(Op op, bint masked, Py_ssize_t n, Py_ssize_t inner,
                           Py_ssize_t itemsize, int nt) noexcept nogil:
    """Whether cols takes cols_bands: for slabs of at least BAND_MIN_BYTES,
    with rows of at least 16 elements (below that, the per-row work of the
    bands costs more: (1000000, 4) float64 log_softmax_backward, ms, 8.9 in
    chunks, 17 in bands) and enough rows for nt bands, where chunks would
    read rows of the slab shorter than BAND_MIN_STRIP bytes (backward passes),
    BAND_MIN_STRIP_FORWARD bytes (the unmasked forward functions, whose bands
    read x three times, or twice and their exps once for float32 softmax, as
    their pipelined chunks of PIPE_CHUNK_BYTES read it once; axis=0, out=, ms,
    chunks / bands, rows of 256 bytes: (2000, 4096) float32 softmax 4.1 /
    3.2, log_softmax 3.9 / 2.9, float64 log_softmax 8.8 / 7.3, logsumexp 4.7 /
    4.0, but float64 softmax 7.1 / 7.4; rows of 512 bytes, (1000, 8192):
    float32 log_softmax 2.7 / 3.2, float64 softmax 7.0 / 8.2) or
    BAND_MIN_STRIP_MASKED bytes (where=; along axis 0, float32, ms,
    chunks / bands: (10000, 512) log_softmax 24.6 / 2.9, (4096, 4096)
    softmax 22.9 / 19.8, (1000, 8192) log_softmax 8.8 / 7.5, but (512,
    16384) softmax 5.0 / 5.7 and (8, 1000000) 3.5 / 8.6).  band_mode forces
    the choice (tests)."""
    cdef bint backward = op == SOFTMAX_BACKWARD or op == LOG_SOFTMAX_BACKWARD
    if band_mode != 0:
        return band_mode > 0
    if n * inner * itemsize < BAND_MIN_BYTES or inner < 16 or n < 4 * nt:
        return False
    if backward:
        return column_chunk(n, inner, itemsize) * itemsize < BAND_MIN_STRIP
    if masked:
        return column_chunk(n, inner, itemsize) * itemsize < BAND_MIN_STRIP_MASKED
    return (column_chunk_bytes(n, inner, itemsize, PIPE_CHUNK_BYTES) * itemsize
            < BAND_MIN_STRIP_FORWARD)


cdef int cols_bands(Op op, const floating* y, const floating* dy, const mask_t* mask,
                    floating* out, Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner,
                    int nt, bint stream, bint exact) except -1 nogil:
    """cols by bands of rows (see band_sums): for each slab and each
    group of at most BAND_COLUMNS columns, nt threads take a band of rows
    each, for the maxima (forward functions), then the sums, which the calling
    thread combines, then the results (stream: softmax_backward's with
    streaming stores, in rows of at least BAND_STREAM_MIN_BYTES)."""
    cdef Py_ssize_t width = min(inner, <Py_ssize_t>BAND_COLUMNS)
    cdef Py_ssize_t pieces = (width + BAND_PIECE - 1) // BAND_PIECE
    cdef Py_ssize_t o, k, g, w, i, base, t
    cdef bint forward = op == SOFTMAX or op == LOG_SOFTMAX or op == LOGSUMEXP
    # float32 softmax stores its exps in out as it sums them, and then scales
    # them, instead of taking them again from x; float64 takes them again (two
    # float64 exps cost less than the traffic of storing and reading them, and
    # gcc vectorized float64 stores four rows at a time no better).  axis=0,
    # out=, 2 threads, ms, again / stored: float32 (4096, 4096) 7.9 / 7.1,
    # (10000, 512) 1.85 / 1.51, (100000, 100) 4.6 / 4.1; float64 (8192, 1024)
    # 6.7 / 7.8, (100000, 100) 10.7 / 12.9.
    cdef bint exps_stored = floating is float and op == SOFTMAX
    # Unmasked logsumexp, log_softmax and float64 softmax take their column
    # maxima together with the sums of unshifted exps (band_max_sum_plain),
    # used where every max allows them (plain_exps), as the rows do: the
    # sums then need no pass of their own.  axis=0, out=, 2 threads, medians
    # of 3 rounds of alternating calls, speed-up over the shifted bands:
    # (4096, 4096) logsumexp float32 1.68, float64 1.76, log_softmax 1.29 /
    # 1.41, float64 softmax 1.31; (10000, 512) 1.49 / 1.66, 1.30 / 1.31,
    # 1.26.  float32 softmax, whose bands store their exps as they sum them,
    # gained 0.87 to 1.16x on an Intel Xeon; on an AMD EPYC (Zen 4, 32 MB of
    # L3), where its three passes over (1000, 8192) go to memory, 1.26x
    # ((4096, 4096) 1.22x, (10000, 512) 1.12x, (300, 2000) 1.01x), but rows
    # of 400 bytes ((100000, 100)) 0.95x: it takes them for groups of
    # columns of at least BAND_PLAIN_MIN_BYTES.
    cdef bint try_plain = mask == NULL and (op == LOGSUMEXP or op == LOG_SOFTMAX or (
        op == SOFTMAX and (floating is double
                           or width * <Py_ssize_t>sizeof(floating) >= BAND_PLAIN_MIN_BYTES)))
    cdef bint folded = False, plain = False, stream_rows = False
    cdef double* part = <double*>malloc((3 * nt * width + pieces + 2 * width) * sizeof(double))
    cdef float* sum32 = <float*>malloc(width * sizeof(float))
    cdef mask_t* found = <mask_t*>malloc((nt + 1) * width)  # the bands', then the columns'
    cdef mask_t* col_found = found + nt * width
    cdef const mask_t* slab_mask
    cdef double* piece_abs_max = part + 2 * nt * width
    cdef floating* col_max = <floating*>(piece_abs_max + pieces)
    cdef floating* inv = <floating*>(piece_abs_max + pieces + width)
    cdef double* band_maxima = piece_abs_max + pieces + 2 * width  # nt slots of width
    cdef floating* pmax
    cdef floating m
    if part == NULL or sum32 == NULL or found == NULL:
        free(part)
        free(sum32)
        free(found)
        with gil:
            raise MemoryError()
    memset(col_found, 1, width)  # unmasked: every column has elements
    for o in range(outer):
        for k in range((inner + width - 1) // width):
            g = k * width
            w = min(width, inner - g)
            base = o * n * inner + g
            slab_mask = NULL if mask == NULL else mask + base
            if forward:
                for t in prange(nt, schedule='static', num_threads=nt):
                    if try_plain:
                        band_max_sum_plain(y + base, t * n // nt, (t + 1) * n // nt, inner, w,
                                           <floating*>(band_maxima + t * w), part + 2 * t * w,
                                           part + (2 * t + 1) * w)
                    else:
                        band_max(y + base, slab_mask, t * n // nt, (t + 1) * n // nt, inner,
                                 w, <floating*>(band_maxima + t * w), found + t * w)
                for i in range(w):
                    m = (<floating*>band_maxima)[i]
                    for t in range(1, nt):
                        pmax = <floating*>(band_maxima + t * w)
                        m = pmax[i] if pmax[i] > m else m
                    col_max[i] = m
                if mask != NULL:
                    memcpy(col_found, found, w)
                    for t in range(1, nt):
                        for i in range(w):
                            col_found[i] |= found[t * w + i]
            stream_rows = stream and w * <Py_ssize_t>sizeof(floating) >= BAND_STREAM_MIN_BYTES
            plain = try_plain and plain_columns(col_max, w)
            if not plain:
                for t in prange(nt, schedule='static', num_threads=nt):
                    band_sums(op, y + base, dy + base, slab_mask, t * n // nt,
                              (t + 1) * n // nt, inner, w, col_max, part + 2 * t * w,
                              part + (2 * t + 1) * w, out + base if exps_stored else NULL,
                              exact)
            bands_combine(op, y + base, dy + base, n, inner, w, nt, part, sum32,
                          piece_abs_max)
            if plain:
                for i in range(w):
                    part[i] = plain_relative_sum(col_max[i], part[i])
            if op == LOGSUMEXP:
                cols_logsumexp_finish(y + base, slab_mask, out + o * inner + g, n, inner, w,
                                      col_max, part, col_found)
                continue
            if op == SOFTMAX:
                for i in range(w):
                    inv[i] = <floating>(1.0 / part[i])
            elif op == LOG_SOFTMAX:
                folded = fold_logs(col_max, part, w, mask == NULL)
            for t in prange(nt, schedule='static', num_threads=nt):
                if forward:
                    band_write_forward(op, y + base, slab_mask, out + base, t * n // nt,
                                       (t + 1) * n // nt, inner, w, col_max, part, inv,
                                       exps_stored and not plain, folded)
                else:
                    band_write(op, y + base, dy + base, out + base, t * n // nt,
                               (t + 1) * n // nt, inner, w, part, sum32, piece_abs_max,
                               stream_rows)
                    if stream_rows:
                        fs_stream_fence()
    free(part)
    free(sum32)
    free(found)
    return 0


cdef inline bint plain_bands(Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner,
                             Py_ssize_t itemsize, int nt) noexcept nogil:
    """Whether cols takes bands for unmasked logsumexp and log_softmax whose
    columns allow unshifted exps (plain_exps, guessed by plain_sample).  Their
    bands read x once, or twice for log_softmax (band_max_sum_plain), so they
    take them for chunk rows shorter than BAND_MIN_STRIP_PLAIN bytes, or too
    few chunks to share, and, for one slab, from BAND_MIN_BYTES_PLAIN.
    axis=0, out=, 2 threads, speed-up over the pipelined chunks, float32 /
    float64: (1000, 8192) logsumexp 1.85 / 2.11, log_softmax 1.49 / 1.10;
    (200, 65536), rows of 2560 bytes, 1.62 / 1.71, 1.07 / 1.02; (128, 1024),
    one chunk, 2.00 / 1.15, 1.97 / 1.89; but (64, 100000), rows of 4096
    bytes, float32 0.93 and 0.81; 16 slabs of (256, 512) log_softmax float64
    0.92."""
    cdef Py_ssize_t slab = n * inner * itemsize
    cdef Py_ssize_t chunk = column_chunk_bytes(n, inner, itemsize, PIPE_CHUNK_BYTES)
    if inner < 16 or n < 4 * nt:
        return False
    if slab < BAND_MIN_BYTES and not (outer == 1 and slab >= BAND_MIN_BYTES_PLAIN):
        return False
    return (chunk * itemsize < BAND_MIN_STRIP_PLAIN
            or outer * ((inner + chunk - 1) // chunk) < 4 * nt)


cdef inline bint plain_sample(const floating* x, Py_ssize_t size) noexcept nogil:
    """Whether the first PLAIN_SAMPLE elements of x (of size) are at most
    PLAIN_MAX, as a guess that the columns allow unshifted exps."""
    cdef double limit = PLAIN_MAX_F32 if floating is float else PLAIN_MAX_F64
    return piece_max(x, min(size, <Py_ssize_t>PLAIN_SAMPLE)) <= limit


cdef int cols(Op op, const floating* x, const floating* dy, const mask_t* mask, floating* out,
              Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner, int nthreads,
              bint stream, bint exact) except -1 nogil:
    """Chunks of columns spread over threads, with per-thread scratch; or
    bands of rows (see plain_bands and use_bands; they store plainly, but
    for softmax_backward's long rows: BAND_STREAM_MIN_BYTES).  stream: in chunks,
    softmax and log_softmax write with streaming stores (softmax then takes
    its exps again in the last pass instead of storing them in out: (1000,
    8192) axis=0, out=, 2 threads, three alternating runs, ms: float32
    3.85-3.88 -> 3.40-3.59, float64 7.4-8.0 -> 7.0-7.2).  Unmasked logsumexp,
    and unmasked softmax and log_softmax that stream, take cols_pipelined_run."""
    cdef Py_ssize_t chunk = column_chunk(n, inner, sizeof(floating))
    cdef Py_ssize_t chunks = chunk_count(chunk, column_lead(x, inner, sizeof(floating)), inner)
    cdef Py_ssize_t t
    cdef double* scratch
    cdef mask_t* col_found
    cdef int nt = threads_for(work_of(outer * n * inner, op != SOFTMAX_BACKWARD, sizeof(floating)),
                              nthreads)
    if mask == NULL and (op == LOGSUMEXP or op == LOG_SOFTMAX) and band_mode == 0 and (
            plain_bands(outer, n, inner, sizeof(floating), nt) and plain_sample(x, n * inner)):
        return cols_bands(op, x, dy, mask, out, outer, n, inner, nt, stream, exact)
    if use_bands(op, mask != NULL, n, inner, sizeof(floating), nt):
        return cols_bands(op, x, dy, mask, out, outer, n, inner, nt, stream, exact)
    if mask == NULL and (op == LOGSUMEXP or (stream and (op == LOG_SOFTMAX or (
            op == SOFTMAX and n * 16 * <Py_ssize_t>sizeof(floating) <= PIPE_CHUNK_BYTES)))):
        return cols_pipelined_run(op, x, out, outer, n, inner, nt, exact)
    if nt == 1:  # no parallel region (see elementwise)
        scratch = <double*>malloc(3 * chunk * sizeof(double))
        col_found = <mask_t*>malloc(chunk)
        try:
            if scratch == NULL or col_found == NULL:
                with gil:
                    raise MemoryError()
            for t in range(outer * chunks):
                cols_task(op, x, dy, mask, out, n, inner, chunk, chunks, t, scratch, col_found,
                          stream, exact)
            if stream:
                fs_stream_fence()
        finally:
            free(scratch)
            free(col_found)
        return 0
    with parallel(num_threads=nt):
        scratch = <double*>malloc(3 * chunk * sizeof(double))
        col_found = <mask_t*>malloc(chunk)
        if scratch == NULL or col_found == NULL:
            free(scratch)
            free(col_found)
            with gil:
                raise MemoryError()
        for t in prange(outer * chunks, schedule='static'):
            cols_task(op, x, dy, mask, out, n, inner, chunk, chunks, t, scratch, col_found,
                      stream, exact)
        if stream:
            fs_stream_fence()
        free(scratch)
        free(col_found)
    return 0


# ---------------------------------------------------------------------------
# Dispatch of a row function over an (outer, n, inner) block.


cdef int run_rowwise(Op op, const floating* x, const floating* dy, const mask_t* mask,
                     floating* out, Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner,
                     int nthreads, bint fresh) except -1 nogil:
    cdef int nt
    cdef Py_ssize_t parts
    # Streaming stores pay where the kernel is memory-bound (see STREAM_CHUNK).
    cdef Py_ssize_t nbytes = outer * n * inner * sizeof(floating)
    cdef bint stream = (op == SOFTMAX_BACKWARD
                        and streams_into(nbytes, fresh, 3 if inner == 1 else 0))
    cdef bint exact = op == SOFTMAX and subnormal_exps_likely(x, outer * n * inner)
    if inner > 1:
        return cols(op, x, dy, mask, out, outer, n, inner, nthreads,
                    stream or ((op == LOG_SOFTMAX or op == SOFTMAX) and streams(nbytes, 0)),
                    exact)
    nt = threads_for(row_work_of(outer * n, op != SOFTMAX_BACKWARD, sizeof(floating)), nthreads)
    if nt > 1 and outer < 4 * nt and n >= 2 * min_work_per_thread:
        # Few long rows: whole rows would leave threads idle (or unevenly
        # loaded); split each row into one piece per thread (as many pieces
        # as threads keeps every task the same size).
        parts = nt
        if mask == NULL and (op == LOG_SOFTMAX or op == LOGSUMEXP
                             or (op == SOFTMAX and cheap_exps)):
            # Pieces small enough to stay in L2 between their max and their
            # sum (as many on every thread).
            parts = nt * ((n * sizeof(floating) + nt * SPLIT_PIECE_BYTES - 1)
                          // (nt * SPLIT_PIECE_BYTES))
            return rows_split_local(op, x, out, outer, n, nt, parts, exact)
        return rows_split(op, x, dy, mask, out, outer, n, nt, parts, stream, exact)
    if n <= short_row_limit(op, sizeof(floating) == 4):
        rows_short(op, x, dy, mask, out, outer, n, nthreads, exact)
        return 0
    rows(op, x, dy, mask, out, outer, n, nthreads, stream, exact)
    return 0


cdef inline int check_shape(const Py_ssize_t* a, const Py_ssize_t* b, int ndim) except -1:
    # Not validation (the front door does that): only what memory safety needs.
    cdef int k
    for k in range(ndim):
        if a[k] != b[k]:
            raise ValueError("fastsoft._cython: kernel blocks of different shapes")
    return 0


cdef int _rowwise(Op op, const floating[:, :, ::1] x, const floating[:, :, ::1] dy,
                  const mask_t[:, :, ::1] mask, floating[:, :, ::1] out,
                  int nthreads, bint fresh) except -1:
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t size = outer * n * inner
    cdef Py_ssize_t out_size = out.shape[0] * out.shape[1] * out.shape[2]
    cdef Py_ssize_t reduced[3]
    if op == LOGSUMEXP:
        reduced[0], reduced[1], reduced[2] = outer, 1, inner
        check_shape(reduced, out.shape, 3)
    else:
        check_shape(x.shape, out.shape, 3)
    if dy is not None:
        check_shape(x.shape, dy.shape, 3)
    if mask is not None:
        check_shape(x.shape, mask.shape, 3)
    if size == 0 or out_size == 0:
        return 0
    with nogil:
        run_rowwise(op, &x[0, 0, 0], NULL if dy is None else &dy[0, 0, 0],
                    NULL if mask is None else &mask[0, 0, 0], &out[0, 0, 0],
                    outer, n, inner, max(nthreads, 1), fresh)
    return 0


# ---------------------------------------------------------------------------
# Element-wise functions on 1-D blocks, ELEMENT_BLOCK elements per task.


cdef inline void sigmoid_block(const floating* x, floating* out, Py_ssize_t n,
                               bint wide) noexcept nogil:
    # In the data's own precision (float32 lanes hold twice the elements and
    # divide several times faster than double ones).  The exps of EXP_BLOCK
    # elements first, then the quotients (see log_sigmoid_block): in cache,
    # one core, 1.15 to 1.2x faster than one loop of both.  wide: the exps
    # of sigmoid_exp_wide, in a loop of their own (see SIGMOID_WIDE).
    cdef floating e[EXP_BLOCK]
    cdef Py_ssize_t k, start, i, w
    for k in range((n + EXP_BLOCK - 1) // EXP_BLOCK):
        start = k * EXP_BLOCK
        w = min(<Py_ssize_t>EXP_BLOCK, n - start)
        if floating is double and start + 2 * EXP_BLOCK <= n:  # see log_sigmoid_block
            fs_prefetch_lines(x + start + EXP_BLOCK, EXP_BLOCK * sizeof(floating))
        if wide:
            for i in range(w):
                e[i] = sigmoid_exp_wide(x[start + i])
        else:
            for i in range(w):
                e[i] = sigmoid_exp(x[start + i])
        if floating is double:  # see fs_sigmoid_from_exp_block
            fs_sigmoid_from_exp_block(x + start, e, out + start, w)
        else:
            for i in range(w):
                out[start + i] = sigmoid_from_exp(x[start + i], e[i])


cdef inline void log_sigmoid_block(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    # log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)); NaN propagates via exp.
    # Both terms are <= 0, so the subtraction cannot cancel.  In two loops
    # over EXP_BLOCK elements, the exps into a stack buffer and then the
    # log1p: one loop of both chains each element through about 35
    # dependent operations, and the core overlapped too few elements to
    # fill its FMA units (float64 log_sigmoid, one core: 1.36 ns per element
    # in one loop, 0.90 in two).  In-place calls read each element before
    # writing it.  Each block first prefetches the next block of x: without
    # that, where out sits from 1 KB below to 256 bytes above x's offset in
    # a 4 KB page (NumPy's usual layout for two large arrays, and for
    # empty_like), the hardware prefetchers fell behind.  Intel Xeon, 8.2e6
    # elements, out=, one thread, AVX2 float64: 3.6 to 4.2 ns per element
    # there against 2.1 to 2.3 elsewhere, 2.2 to 2.3 everywhere with the
    # prefetch; alternated processes, 2 threads, speed-up at NumPy's layout:
    # AVX2 float64 1.55 to 1.86x, float32 1.10 to 1.22x; AVX-512 float32
    # 1.25 to 1.44x, float64 0.94 to 1.10x (out 512 bytes off: AVX2 float64
    # 0.94x).  float64 sigmoid_block does the same (AVX2 1.29 to 1.46x,
    # AVX-512 0.97 to 1.12x); float32 sigmoid, which streams its larger
    # results, was slower with it (0.71 to 0.95x).
    cdef floating e[EXP_BLOCK]
    cdef Py_ssize_t k, start, i, w
    cdef floating v, zero = 0.0
    for k in range((n + EXP_BLOCK - 1) // EXP_BLOCK):
        start = k * EXP_BLOCK
        w = min(<Py_ssize_t>EXP_BLOCK, n - start)
        if start + 2 * EXP_BLOCK <= n:
            fs_prefetch_lines(x + start + EXP_BLOCK, EXP_BLOCK * sizeof(floating))
        for i in range(w):
            v = x[start + i]
            e[i] = log_sigmoid_exp(v)
        for i in range(w):
            v = x[start + i]
            out[start + i] = (v if v < 0 else zero) - log1p_unit(e[i])


cdef inline float sigmoid_backward_f(float v, float d) noexcept nogil:
    """float32 dy * y * (1 - y) as d * (v * (1 - v)), or in double where
    v * (1 - v) overflows (see sigmoid_backward_block)."""
    cdef float t = v * (<float>1.0 - v)
    cdef double w = v
    return <float>(d * w * (1.0 - w)) if t == -INFINITY else d * t


cdef inline void sigmoid_backward_block(const floating* y, const floating* dy, floating* out,
                                        Py_ssize_t n) noexcept nogil:
    """dy * y * (1 - y).  float64: in the reference's order, (dy * y) * (1 - y).
    float32: dy * (y * (1 - y)) in float32 lanes, which neither overflow
    (as dy * y can for y beyond [0, 1]) nor lose bits to underflow where the
    result is normal, unless y * (1 - y) overflows (|y| > 1.8e19; it is at
    most 1/4 for finite y, so -inf then, or for y = +-inf): there it is
    computed in double, as the reference computes it (sigmoid_backward_f).
    Three roundings, at most 1.5 ulp.  The block is written in float32 lanes
    and redone with sigmoid_backward_f only if some y * (1 - y) was -inf: the
    unsigned max of their bits is then at least -inf's, 0xff800000 (only a
    negative NaN is above it; it is NaN either way).  An integer max
    vectorizes, a float min does not, and an OR of the bits would also flag
    y beyond [0, 1] that never overflow.  Unless out is y or dy, whose
    elements are gone by then: such calls take sigmoid_backward_f
    throughout.  Alternated processes, out=, 2 threads, against the old
    (dy * y) * (1 - y): (4096, 4096) 0.98-0.99x (streamed), (8192, 1000)
    1.00x, (65536, 10) 1.00x, (300, 1000) 0.92-1.02x (in cache); y normally
    distributed (4096, 4096) 0.99x.  In double throughout, (4096, 4096) 0.82x;
    with an OR of compares instead of the max, 0.96x."""
    cdef Py_ssize_t i
    cdef floating v, t, one = 1.0
    cdef uint32_t bits, top = 0
    if floating is double:
        for i in range(n):
            v = y[i]
            out[i] = dy[i] * v * (one - v)
        return
    if <const void*>out == <const void*>y or <const void*>out == <const void*>dy:
        for i in range(n):
            out[i] = sigmoid_backward_f(y[i], dy[i])
        return
    for i in range(n):
        v = y[i]
        t = v * (one - v)
        out[i] = dy[i] * t
        bits = fs_bits_f(t)
        top = bits if bits > top else top
    if top >= 0xff800000u:
        for i in range(n):
            out[i] = sigmoid_backward_f(y[i], dy[i])


ctypedef enum ElementOp:
    SIGMOID
    LOG_SIGMOID
    SIGMOID_BACKWARD
    # float32 sigmoid of data with elements above 87.33 (wide_sigmoid_likely),
    # whose exps stay normal there (fs_sigmoid_exp_wide_f): the same bits.
    SIGMOID_WIDE


cdef inline void element_block(ElementOp op, const floating* x, const floating* dy,
                               floating* out, Py_ssize_t n) noexcept nogil:
    if op == SIGMOID:
        sigmoid_block(x, out, n, False)
    elif op == SIGMOID_WIDE:
        sigmoid_block(x, out, n, True)
    elif op == LOG_SIGMOID:
        log_sigmoid_block(x, out, n)
    else:
        sigmoid_backward_block(x, dy, out, n)


cdef inline bint wide_sigmoid_likely(const floating* x, Py_ssize_t size) noexcept nogil:
    """Whether float32 sigmoid of x should take SIGMOID_WIDE: whether any of
    the first SUBNORMAL_SAMPLE elements is above 87.33 (-FS_EXPF_SUM_MIN),
    where exp(-x) is subnormal and costs a slow multiply that sigmoid (then
    1) does not need.  The answer changes the speed only: both give the same
    bits.  1e6 float32 elements, out=, 2 threads, side by side: uniform on
    [90, 100] 2.37x the speed of sigmoid_exp; normal numbers times 3 (none
    there, where the two operations more cost in-cache data 6%): unchanged;
    uniform on [-120, 120], whose lanes below -87.33 keep the slow path
    (the result is subnormal there), 0.95x."""
    if floating is double:
        return False
    return piece_max(x, min(size, <Py_ssize_t>SUBNORMAL_SAMPLE)) > -FS_EXPF_SUM_MIN


cdef void element_block_streamed(ElementOp op, const floating* x, const floating* dy,
                                 floating* out, Py_ssize_t n) noexcept nogil:
    """element_block one L1 buffer at a time, each streamed to out."""
    cdef floating buf[STREAM_CHUNK + 16]
    cdef floating* b = buf + to_alignment(buf, sizeof(floating))
    cdef Py_ssize_t k, c, w
    for k in range((n + STREAM_CHUNK - 1) // STREAM_CHUNK):
        c = k * STREAM_CHUNK
        w = min(<Py_ssize_t>STREAM_CHUNK, n - c)
        element_block(op, x + c, NULL if dy == NULL else dy + c, b, w)
        stream_copy(out + c, b, w)


cdef inline void element_task(ElementOp op, const floating* x, const floating* dy,
                              floating* out, Py_ssize_t size, Py_ssize_t head,
                              Py_ssize_t b, bint stream) noexcept nogil:
    # Block b: the first runs up to the alignment boundary `head`.
    cdef Py_ssize_t i0 = 0 if b == 0 else head + (b - 1) * ELEMENT_BLOCK
    cdef Py_ssize_t w = head if b == 0 else min(ELEMENT_BLOCK, size - i0)
    if stream:
        element_block_streamed(op, x + i0, NULL if dy == NULL else dy + i0, out + i0, w)
    else:
        element_block(op, x + i0, NULL if dy == NULL else dy + i0, out + i0, w)


cdef void elementwise(ElementOp op, const floating* x, const floating* dy, floating* out,
                      Py_ssize_t size, int nthreads, bint fresh) noexcept nogil:
    # Blocks start on 64-byte boundaries of x (a first, shorter block up to
    # the first one): NumPy's large arrays start 16 bytes past one, and
    # vector loads that straddle cache lines cost up to 1.8x the time of the
    # whole streaming loop (sigmoid_backward, measured on this machine).
    cdef Py_ssize_t b
    cdef Py_ssize_t head = min(to_alignment(x, sizeof(floating)), size)
    cdef Py_ssize_t blocks = 1 + (size - head + ELEMENT_BLOCK - 1) // ELEMENT_BLOCK
    cdef int nt = threads_for(work_of(size, op != SIGMOID_BACKWARD, sizeof(floating)), nthreads)
    cdef bint stream = ((op == SIGMOID_BACKWARD or (op == SIGMOID and floating is float))
                        and streams_into(size * sizeof(floating), fresh,
                                         3 if op == SIGMOID_BACKWARD else 2))  # see STREAM_CHUNK
    if op == SIGMOID and wide_sigmoid_likely(x, size):
        op = SIGMOID_WIDE
    if nt == 1:  # no parallel region: entering one costs 0.6 us even for one thread
        for b in range(blocks):
            element_task(op, x, dy, out, size, head, b, stream)
        if stream:
            fs_stream_fence()
        return
    if size * <Py_ssize_t>sizeof(floating) >= balance_min_bytes:
        with parallel(num_threads=nt):
            for b in prange(blocks, schedule='dynamic', chunksize=balance_chunk(blocks, nt)):
                element_task(op, x, dy, out, size, head, b, stream)
            if stream:
                fs_stream_fence()
        return
    with parallel(num_threads=nt):
        for b in prange(blocks, schedule='static'):
            element_task(op, x, dy, out, size, head, b, stream)
        if stream:
            fs_stream_fence()


cdef int _elementwise(ElementOp op, const floating[::1] x, const floating[::1] dy,
                      floating[::1] out, int nthreads, bint fresh) except -1:
    cdef Py_ssize_t size = x.shape[0]
    check_shape(x.shape, out.shape, 1)
    if dy is not None:
        check_shape(x.shape, dy.shape, 1)
    if size == 0:
        return 0
    with nogil:
        elementwise(op, &x[0], NULL if dy is None else &dy[0], &out[0], size, max(nthreads, 1),
                    fresh)
    return 0


# ---------------------------------------------------------------------------
# The backend interface (see fastsoft/_cython/__init__.py, which views the
# boolean mask as uint8 before calling these).  fresh: out was allocated for
# this call (see streams_into).


# The dtype is chosen here rather than by Cython's dispatch of a fused def
# function, which costs about 0.8 us per call (a third of a small call's
# time).  The memoryview conversions still check every buffer's dtype.


cdef inline bint single(x) except -1:
    return x.dtype.itemsize == 4


def softmax(x, mask, out, int nthreads, bint fresh=False):
    if single(x):
        _rowwise[float](SOFTMAX, x, None, mask, out, nthreads, fresh)
    else:
        _rowwise[double](SOFTMAX, x, None, mask, out, nthreads, fresh)


def log_softmax(x, mask, out, int nthreads, bint fresh=False):
    if single(x):
        _rowwise[float](LOG_SOFTMAX, x, None, mask, out, nthreads, fresh)
    else:
        _rowwise[double](LOG_SOFTMAX, x, None, mask, out, nthreads, fresh)


def logsumexp(x, mask, out, int nthreads, bint fresh=False):
    out = out.reshape(out.shape[0], 1, out.shape[1])
    if single(x):
        _rowwise[float](LOGSUMEXP, x, None, mask, out, nthreads, fresh)
    else:
        _rowwise[double](LOGSUMEXP, x, None, mask, out, nthreads, fresh)


def softmax_backward(y, dy, out, int nthreads, bint fresh=False):
    if single(y):
        _rowwise[float](SOFTMAX_BACKWARD, y, dy, None, out, nthreads, fresh)
    else:
        _rowwise[double](SOFTMAX_BACKWARD, y, dy, None, out, nthreads, fresh)


def log_softmax_backward(y, dy, out, int nthreads, bint fresh=False):
    if single(y):
        _rowwise[float](LOG_SOFTMAX_BACKWARD, y, dy, None, out, nthreads, fresh)
    else:
        _rowwise[double](LOG_SOFTMAX_BACKWARD, y, dy, None, out, nthreads, fresh)


def sigmoid(x, out, int nthreads, bint fresh=False):
    if single(x):
        _elementwise[float](SIGMOID, x, None, out, nthreads, fresh)
    else:
        _elementwise[double](SIGMOID, x, None, out, nthreads, fresh)


def log_sigmoid(x, out, int nthreads, bint fresh=False):
    if single(x):
        _elementwise[float](LOG_SIGMOID, x, None, out, nthreads, fresh)
    else:
        _elementwise[double](LOG_SIGMOID, x, None, out, nthreads, fresh)


def sigmoid_backward(y, dy, out, int nthreads, bint fresh=False):
    if single(y):
        _elementwise[float](SIGMOID_BACKWARD, y, dy, out, nthreads, fresh)
    else:
        _elementwise[double](SIGMOID_BACKWARD, y, dy, out, nthreads, fresh)


# ---------------------------------------------------------------------------
# Whole arrays in one call: the front door's common case (fastsoft._api._fast)
# without the block views and memoryviews above, whose making cost more than
# a small call's work (float32 (1, 10), 2 threads: sigmoid_backward with out=
# 7.5 us through the blocks, PyTorch 3.5 us).

cdef enum:
    WHOLE_ELEMENTWISE = 16  # whole()'s codes: an Op, or this + an ElementOp

WHOLE_CODES = {
    "softmax": SOFTMAX, "log_softmax": LOG_SOFTMAX, "logsumexp": LOGSUMEXP,
    "softmax_backward": SOFTMAX_BACKWARD, "log_softmax_backward": LOG_SOFTMAX_BACKWARD,
    "sigmoid": WHOLE_ELEMENTWISE + SIGMOID, "log_sigmoid": WHOLE_ELEMENTWISE + LOG_SIGMOID,
    "sigmoid_backward": WHOLE_ELEMENTWISE + SIGMOID_BACKWARD,
}


cdef inline bint shares_memory(const Py_buffer* a, const Py_buffer* b) noexcept:
    return (<size_t>a.buf < <size_t>b.buf + <size_t>b.len
            and <size_t>b.buf < <size_t>a.buf + <size_t>a.len)


cdef inline bint same_memory(const Py_buffer* a, const Py_buffer* b) noexcept:
    return a.buf == b.buf and a.len == b.len


cdef int whole_run(int code, const Py_buffer* x, const Py_buffer* dy, const Py_buffer* out,
                   Py_ssize_t n, int nthreads, bint fresh) except -1:
    """whole() once its buffers are held; 0 when done, 1 when declined."""
    cdef Py_ssize_t itemsize = x.itemsize
    cdef Py_ssize_t size = x.len // itemsize if itemsize > 0 else 0
    cdef bint elementwise_op = code >= WHOLE_ELEMENTWISE
    cdef Py_ssize_t out_size = size if elementwise_op or code != LOGSUMEXP else (
        size // n if n > 0 else 0)
    # Memory safety only: the caller checked dtypes and shapes.
    if ((itemsize != 4 and itemsize != 8) or out.itemsize != itemsize or size == 0 or n < 1
            or size % n or out.len != out_size * itemsize
            or (dy != NULL and (dy.itemsize != itemsize or dy.len != x.len))):
        raise ValueError("fastsoft._cython.whole: arrays of different sizes or item sizes")
    # out may be an input's very memory (in place: see the top of this file),
    # but no other part of it; logsumexp's is never an input's.
    if shares_memory(out, x) and (code == LOGSUMEXP or not same_memory(out, x)):
        return 1
    if dy != NULL and shares_memory(out, dy) and not same_memory(out, dy):
        return 1
    nthreads = max(nthreads, 1)
    if elementwise_op:
        if itemsize == 4:
            with nogil:
                elementwise[float](<ElementOp>(code - WHOLE_ELEMENTWISE), <const float*>x.buf,
                                   NULL if dy == NULL else <const float*>dy.buf,
                                   <float*>out.buf, size, nthreads, fresh)
        else:
            with nogil:
                elementwise[double](<ElementOp>(code - WHOLE_ELEMENTWISE), <const double*>x.buf,
                                    NULL if dy == NULL else <const double*>dy.buf,
                                    <double*>out.buf, size, nthreads, fresh)
    elif itemsize == 4:
        with nogil:
            run_rowwise[float](<Op>code, <const float*>x.buf,
                               NULL if dy == NULL else <const float*>dy.buf, NULL,
                               <float*>out.buf, size // n, n, 1, nthreads, fresh)
    else:
        with nogil:
            run_rowwise[double](<Op>code, <const double*>x.buf,
                                NULL if dy == NULL else <const double*>dy.buf, NULL,
                                <double*>out.buf, size // n, n, 1, nthreads, fresh)
    return 0


def whole(str op, x, dy, out, Py_ssize_t n, int nthreads, bint fresh):
    """Compute `op` on whole arrays; True when done.  x (and dy, else None)
    and out: float32 or float64 ndarrays of one dtype (not checked here:
    buffers carry no dtype without a format string, which would cost more),
    out of the result's shape; row functions reduce rows of n elements along
    the last axis (n is ignored by element-wise functions).  False, nothing
    written, where an array is not C-contiguous, out is read-only, or out
    shares memory with an input without being that input's very memory:
    the caller then takes the general way."""
    cdef int code = WHOLE_CODES[op]
    cdef Py_buffer bx, bdy, bout
    cdef bint have_x = False, have_dy = False, have_out = False
    try:
        try:
            PyObject_GetBuffer(x, &bx, PyBUF_C_CONTIGUOUS)
            have_x = True
            if dy is not None:
                PyObject_GetBuffer(dy, &bdy, PyBUF_C_CONTIGUOUS)
                have_dy = True
            PyObject_GetBuffer(out, &bout, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE)
            have_out = True
        except (BufferError, ValueError):  # not C-contiguous, or out read-only
            return False
        return whole_run(code, &bx, &bdy if have_dy else NULL, &bout, n, nthreads, fresh) == 0
    finally:
        if have_out:
            PyBuffer_Release(&bout)
        if have_dy:
            PyBuffer_Release(&bdy)
        if have_x:
            PyBuffer_Release(&bx)


# ---------------------------------------------------------------------------
# Build and CPU facts, for fastsoft._cython.build_info().


def set_stream_min_bytes(Py_ssize_t nbytes):
    """Set the smallest result (in bytes) written with streaming stores
    (default 2**24), whatever the cache size (the default again brings back
    its rule: see streams); returns the old value."""
    global stream_min_bytes, stream_cache_bytes
    previous = stream_min_bytes
    stream_min_bytes = max(nbytes, 0)
    stream_cache_bytes = llc_bytes // 3 if stream_min_bytes == STREAM_MIN_BYTES else 0
    return previous


def last_level_cache_bytes():
    """The last-level cache size the streaming rule uses (0: unknown)."""
    return llc_bytes


def set_band_mode(int mode):
    """Backward passes along a non-last axis: 0 chooses chunks or bands by
    shape (use_bands, the default), 1 always takes bands, -1 never; returns
    the old value."""
    global band_mode
    previous = band_mode
    band_mode = (mode > 0) - (mode < 0)
    return previous


def set_balance_min_bytes(Py_ssize_t nbytes):
    """Set the smallest arrays (in bytes) whose parallel loops hand out
    their tasks in chunks as threads come for them (default 2**24); returns
    the old value."""
    global balance_min_bytes
    previous = balance_min_bytes
    balance_min_bytes = max(nbytes, 0)
    return previous


def set_cheap_exps(bint flag):
    """Whether softmax's long rows split across threads take their exps
    twice (rows_split_local) or the row's max first (rows_split); returns
    the old value.  The default depends on the build and the CPU."""
    global cheap_exps
    previous = cheap_exps
    cheap_exps = flag
    return previous


def set_min_work_per_thread(Py_ssize_t elements):
    """Set the fewest elements per thread (default 2**13); returns the old value."""
    global min_work_per_thread
    previous = min_work_per_thread
    min_work_per_thread = max(elements, 1)
    return previous


def openmp_enabled():
    """Whether this module was compiled with OpenMP."""
    return bool(fs_openmp_enabled())


def max_threads():
    """OpenMP's thread limit (omp_get_max_threads), 1 without OpenMP."""
    return fs_omp_max_threads()


def compiled_isa():
    """The instruction-set extensions the compiler targeted for this module."""
    return fs_compiled_isa().decode()


def cpu_features():
    """The CPU's SIMD features as a set of names (cpuid through
    __builtin_cpu_supports), or None where this build cannot detect them."""
    if not fs_cpu_detection():
        return None
    cdef int f = fs_cpu_features()
    names = ("avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl")
    return frozenset(name for bit, name in enumerate(names) if f & (1 << bit))
