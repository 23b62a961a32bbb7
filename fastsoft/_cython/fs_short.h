/* Row maxima and per-row spreads of short rows (2 <= n <= 16 elements),
 * vectorized across rows with AVX-512 permutes (AVX2 builds: see the
 * second half of this file).
 *
 * A group of G whole rows, G the lanes of a vector (16 floats or 8 doubles),
 * is exactly n vectors.  The max of the window [i, i + n) at every position
 * i is built from windows of powers of two: each is the one before it
 * combined with itself shifted by its length (one vpermt2ps / vpermt2pd
 * across two consecutive vectors), and the window of n combines those of
 * n's binary digits: log2(n) + popcount(n) steps of two operations per
 * vector.  Row r's max is the window at r n, gathered into one vector.
 * Spreading per-row values back over the rows' elements is one permute per
 * vector.  The scalar loops these replace take a compare per element, and a
 * store per element for a spread.  (Row sums the same way, in double, were
 * slower than the scalar loops, which gcc vectorizes four rows at a time:
 * (65536, 10) float32 softmax, out=, 2 threads, 0.153-0.157 ms scalar,
 * 0.163-0.166 ms windows.  Float32 row sums of 8 to 16 take one masked
 * load per row and a sum across eight rows' vectors instead:
 * fs_short_sums_f.)
 *
 * Each function returns how many rows it did (0 without AVX2, or for n
 * outside the lengths it takes: [2, 16], for fs_short_sums_f [8, 16]); the
 * caller does the rest.  The maxima do whole groups only, the spreads
 * whole groups (AVX-512) or all rows but the last one or few (AVX2);
 * fs_short_sums_f does every row.
 *
 * Maxima and spreads equal the scalar loops': maxima ignore NaN (-inf for a row of
 * NaN and -inf, as `m = v > m ? v : m` from -inf does), and max is exact in
 * any order (of +0 and -0 either may be returned: exp(v - m) and v - m do
 * not see the difference).
 */
#ifndef FASTSOFT_FS_SHORT_H
#define FASTSOFT_FS_SHORT_H

#define FS_SHORT_MAX_N 16
/* Rows of FS_SHORT_SUMS_MIN_N to FS_SHORT_MAX_N float32 take fs_short_sums_f. */
#define FS_SHORT_SUMS_MIN_N 8

#define FS_UNROLL _Pragma("GCC unroll 32")

/* The functions below are compiled once for each n in [2, 16] (FS_SHORT_CASES),
 * so that their loops over a group's vectors unroll and the vectors stay in
 * registers: with n known only at run time they lived on the stack and the
 * short-row path was 1.45x slower than its scalar loops. */
#define FS_SHORT_CASES(call)                                                    \
    switch (n) {                                                                \
    case 2: return call(2); case 3: return call(3); case 4: return call(4);     \
    case 5: return call(5); case 6: return call(6); case 7: return call(7);     \
    case 8: return call(8); case 9: return call(9); case 10: return call(10);   \
    case 11: return call(11); case 12: return call(12); case 13: return call(13); \
    case 14: return call(14); case 15: return call(15); case 16: return call(16); \
    default: return 0;                                                          \
    }

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#include <math.h>


static inline __m512i fs_iota_epi32(void)
{
    return _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
}

static inline __m512i fs_iota_epi64(void)
{
    return _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
}

/* Lanes [s, s + 16) of the concatenation of v[k] and v[k + 1], 0 <= s < 16. */
static inline __m512 fs_shifted_ps(const __m512 *v, long k, long s)
{
    if (s == 0)
        return v[k];
    return _mm512_permutex2var_ps(v[k], _mm512_add_epi32(fs_iota_epi32(), _mm512_set1_epi32((int)s)),
                                  v[k + 1]);
}

/* Lanes [s, s + 8) of the concatenation of v[k], v[k + 1], v[k + 2], 0 <= s < 16. */
static inline __m512d fs_shifted_pd(const __m512d *v, long k, long s)
{
    k += s / 8;
    s %= 8;
    if (s == 0)
        return v[k];
    return _mm512_permutex2var_pd(v[k], _mm512_add_epi64(fs_iota_epi64(), _mm512_set1_epi64(s)),
                                  v[k + 1]);
}

/* The windows of n at every position of v[0..count), in place; v holds two
 * padding vectors after them (which the windows may read: their values
 * reach only positions past the group's last row start).  acc receives the
 * result.  combine: the max (or any associative operation). */
#define FS_WINDOWS(v, acc, count, n, combine, shifted)                          \
    do {                                                                        \
        long b_, size_, off_ = 0, k_;                                           \
        FS_UNROLL for (b_ = 0; b_ < 5; b_++) {                                  \
            size_ = 1L << b_;                                                   \
            if ((n) & size_) {                                                  \
                if (off_ == 0) {                                                \
                    FS_UNROLL for (k_ = 0; k_ < (count); k_++)                  \
                        (acc)[k_] = (v)[k_];                                    \
                } else {                                                        \
                    FS_UNROLL for (k_ = 0; k_ < (count); k_++)                  \
                        (acc)[k_] = combine((acc)[k_], shifted((v), k_, off_)); \
                }                                                               \
                off_ += size_;                                                  \
            }                                                                   \
            if (2 * size_ > (n))                                                \
                break;                                                          \
            /* In place, upwards: v[k] reads only v[k] and later vectors. */    \
            FS_UNROLL for (k_ = 0; k_ < (count); k_++)                          \
                (v)[k_] = combine((v)[k_], shifted((v), k_, size_));            \
        }                                                                       \
    } while (0)

/* m[r] = the max of row r of x (rows of n float32), NaN ignored. */
static inline __attribute__((always_inline)) long
fs_short_max_f_n(const float *x, float *m, long count, const long n)
{
    __m512 v[FS_SHORT_MAX_N + 2], acc[FS_SHORT_MAX_N];
    float buf[16 * FS_SHORT_MAX_N];
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    const __m512i starts = _mm512_mullo_epi32(fs_iota_epi32(), _mm512_set1_epi32((int)n));
    long g, k, groups = count / 16;
    for (g = 0; g < groups; g++) {
        const float *xg = x + g * 16 * n;
        FS_UNROLL for (k = 0; k < n; k++) {
            __m512 a = _mm512_loadu_ps(xg + 16 * k);
            v[k] = _mm512_mask_mov_ps(a, _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), ninf);
        }
        v[n] = v[n + 1] = ninf;
        FS_WINDOWS(v, acc, n, n, _mm512_max_ps, fs_shifted_ps);
        FS_UNROLL for (k = 0; k < n; k++)
            _mm512_storeu_ps(buf + 16 * k, acc[k]);
        _mm512_storeu_ps(m + 16 * g, _mm512_i32gather_ps(starts, buf, 4));
    }
    return 16 * groups;
}

/* m[r] = the max of row r of x (rows of n float64), NaN ignored. */
static inline __attribute__((always_inline)) long
fs_short_max_d_n(const double *x, double *m, long count, const long n)
{
    __m512d v[FS_SHORT_MAX_N + 2], acc[FS_SHORT_MAX_N];
    double buf[8 * FS_SHORT_MAX_N];
    const __m512d ninf = _mm512_set1_pd(-INFINITY);
    const __m256i starts = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0),
                                              _mm256_set1_epi32((int)n));
    long g, k, groups = count / 8;
    for (g = 0; g < groups; g++) {
        const double *xg = x + g * 8 * n;
        FS_UNROLL for (k = 0; k < n; k++) {
            __m512d a = _mm512_loadu_pd(xg + 8 * k);
            v[k] = _mm512_mask_mov_pd(a, _mm512_cmp_pd_mask(a, a, _CMP_UNORD_Q), ninf);
        }
        v[n] = v[n + 1] = ninf;
        FS_WINDOWS(v, acc, n, n, _mm512_max_pd, fs_shifted_pd);
        FS_UNROLL for (k = 0; k < n; k++)
            _mm512_storeu_pd(buf + 8 * k, acc[k]);
        _mm512_storeu_pd(m + 8 * g, _mm512_i32gather_pd(starts, buf, 8));
    }
    return 8 * groups;
}

/* out[r n + j] = vals[r] for j < n: per-row values spread over the rows'
 * elements (float32, groups of 16 rows). */
static inline __attribute__((always_inline)) long
fs_short_spread_f_n(const float *vals, float *out, long count, const long n)
{
    __m512i rows[FS_SHORT_MAX_N];
    long g, k, groups = count / 16;
    /* The row of element 16 k + l of a group: floor((16 k + l + 1/2) / n),
     * exact in float32 (the quotient is at least 1 / (2 n) from an integer). */
    FS_UNROLL for (k = 0; k < n; k++) {
        __m512 pos = _mm512_cvtepi32_ps(_mm512_add_epi32(fs_iota_epi32(),
                                                         _mm512_set1_epi32((int)(16 * k))));
        rows[k] = _mm512_cvttps_epi32(_mm512_div_ps(_mm512_add_ps(pos, _mm512_set1_ps(0.5f)),
                                                    _mm512_set1_ps((float)n)));
    }
    for (g = 0; g < groups; g++) {
        __m512 m = _mm512_loadu_ps(vals + 16 * g);
        float *og = out + 16 * g * n;
        FS_UNROLL for (k = 0; k < n; k++)
            _mm512_storeu_ps(og + 16 * k, _mm512_permutexvar_ps(rows[k], m));
    }
    return 16 * groups;
}

/* fs_short_spread_f for float64 values (groups of 8 rows). */
static inline __attribute__((always_inline)) long
fs_short_spread_d_n(const double *vals, double *out, long count, const long n)
{
    __m512i rows[FS_SHORT_MAX_N];
    long g, k, groups = count / 8;
    FS_UNROLL for (k = 0; k < n; k++) {
        __m512d pos = _mm512_cvtepi64_pd(_mm512_add_epi64(fs_iota_epi64(),
                                                          _mm512_set1_epi64(8 * k)));
        rows[k] = _mm512_cvttpd_epi64(_mm512_div_pd(_mm512_add_pd(pos, _mm512_set1_pd(0.5)),
                                                    _mm512_set1_pd((double)n)));
    }
    for (g = 0; g < groups; g++) {
        __m512d m = _mm512_loadu_pd(vals + 8 * g);
        double *og = out + 8 * g * n;
        FS_UNROLL for (k = 0; k < n; k++)
            _mm512_storeu_pd(og + 8 * k, _mm512_permutexvar_pd(rows[k], m));
    }
    return 8 * groups;
}

/* Lane k of the result: the sum of the eight lanes of a[k], for k < 8.
 * Three levels of pairwise sums across the vectors: adjacent lanes
 * (unpacklo/unpackhi), then 128-bit halves, then 256-bit halves. */
static inline __m512d fs_lane_totals8(const __m512d *a)
{
    __m512d t[4], s[2];
    long k;
    FS_UNROLL for (k = 0; k < 4; k++)
        t[k] = _mm512_add_pd(_mm512_unpacklo_pd(a[2 * k], a[2 * k + 1]),
                             _mm512_unpackhi_pd(a[2 * k], a[2 * k + 1]));
    /* t[k]: in each 128-bit chunk c, partial sums of rows 2k and 2k + 1. */
    FS_UNROLL for (k = 0; k < 2; k++)
        s[k] = _mm512_add_pd(_mm512_shuffle_f64x2(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f64x2(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    /* s[k]: chunks (rows 4k, 4k + 1), (4k, 4k + 1), (4k + 2, 4k + 3), (4k + 2, 4k + 3). */
    return _mm512_add_pd(_mm512_shuffle_f64x2(s[0], s[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f64x2(s[0], s[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* total[r] = the sum of row r of e (rows of n float32, FS_SHORT_SUMS_MIN_N
 * <= n <= FS_SHORT_MAX_N), in double, eight rows at a time: each row one
 * masked load (the lanes past n read as 0 and do not fault), its two halves
 * widened and added, then the eight rows' lanes summed across vectors
 * (fs_lane_totals8): about 8 operations per row (a load, an extract, two
 * conversions, an add, and 21 / 8 for the sum across vectors) where the
 * scalar loops, four rows at a time, take about 2.25 per element (a load
 * and an insert into the lanes of four rows, and a conversion and an add
 * for every four).  (65536, n) float32, out=, 2 threads,
 * speed-up of softmax / logsumexp: n = 16 1.18 / 1.17, 10 1.10 / 1.07, 8
 * 1.04 / 1.02, 7 1.00 / 1.00, 4 0.86 / 0.89; shorter rows keep the scalar
 * loops.  A last group of fewer than 8 rows loads nothing for the missing
 * ones, so every row is summed in the same order wherever it falls. */
static long fs_short_sums_f(const float *e, double *total, long count, long n)
{
    __m512d h[8];
    __mmask16 row_mask;
    long r, k;
    if (n < FS_SHORT_SUMS_MIN_N || n > FS_SHORT_MAX_N)
        return 0;
    row_mask = (__mmask16)((1u << n) - 1u);
    for (r = 0; r < count; r += 8) {
        FS_UNROLL for (k = 0; k < 8; k++) {
            /* A missing row (past count) loads nothing, from e itself. */
            const int here = r + k < count;
            __m512 v = _mm512_maskz_loadu_ps(here ? row_mask : 0, here ? e + (r + k) * n : e);
            h[k] = _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)),
                                 _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
        }
        if (count - r >= 8)
            _mm512_storeu_pd(total + r, fs_lane_totals8(h));
        else
            _mm512_mask_storeu_pd(total + r, (__mmask8)((1u << (count - r)) - 1u),
                                  fs_lane_totals8(h));
    }
    return count;
}

#elif defined(__AVX2__)
/* AVX2 (+FMA) builds: the same functions with 8 float or 4 double lanes.
 * AVX2 has no two-vector permute, so instead of windows a row goes into one
 * vector of its own (one or two loads, the second overlapping the first
 * where n is not a multiple of the lanes: harmless for a max), and the row
 * vectors of a group fold into one vector of row results by a transposing
 * tree of unpacks and 128-bit swaps (fs_fold8_max_ps, fs_fold4_pd).  Spreads
 * store a row's value broadcast over whole vectors from the row's first
 * element, in order, so that each row's overhang is overwritten by the
 * rows after it. */
#include <immintrin.h>
#include <math.h>

/* Lanes [0, n) set, n <= 8, as a mask for maskload / blendv. */
static inline __m256i fs_lanes_below_epi32(long n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0));
}

static inline __m256i fs_lanes_below_epi64(long n)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_set_epi64x(3, 2, 1, 0));
}

/* Lane k: the max of the eight lanes of v[k]. */
static inline __m256 fs_fold8_max_ps(const __m256 *v)
{
    __m256 t[4], s[2];
    long k;
    FS_UNROLL for (k = 0; k < 4; k++)
        t[k] = _mm256_max_ps(_mm256_unpacklo_ps(v[2 * k], v[2 * k + 1]),
                             _mm256_unpackhi_ps(v[2 * k], v[2 * k + 1]));
    /* t[k]: in each 128-bit half, rows 2k, 2k + 1, 2k, 2k + 1. */
    FS_UNROLL for (k = 0; k < 2; k++)
        s[k] = _mm256_max_ps(_mm256_shuffle_ps(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm256_shuffle_ps(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* s[k]: in each 128-bit half, rows 4k to 4k + 3. */
    return _mm256_max_ps(_mm256_permute2f128_ps(s[0], s[1], 0x20),
                         _mm256_permute2f128_ps(s[0], s[1], 0x31));
}

/* Lane k: the max (or with add, the sum) of the four lanes of v[k]; a sum
 * is (v[k]_0 + v[k]_1) + (v[k]_2 + v[k]_3). */
static inline __attribute__((always_inline)) __m256d fs_fold4_pd(const __m256d *v, const int add)
{
    __m256d t0, t1, lo, hi;
    t0 = add ? _mm256_hadd_pd(v[0], v[1])
             : _mm256_max_pd(_mm256_unpacklo_pd(v[0], v[1]), _mm256_unpackhi_pd(v[0], v[1]));
    t1 = add ? _mm256_hadd_pd(v[2], v[3])
             : _mm256_max_pd(_mm256_unpacklo_pd(v[2], v[3]), _mm256_unpackhi_pd(v[2], v[3]));
    /* t0: rows 0, 1, 0, 1; t1: rows 2, 3, 2, 3. */
    lo = _mm256_permute2f128_pd(t0, t1, 0x20);
    hi = _mm256_permute2f128_pd(t0, t1, 0x31);
    return add ? _mm256_add_pd(lo, hi) : _mm256_max_pd(lo, hi);
}

/* Row r's elements in one vector, NaN as -inf, and lanes past n -inf too. */
static inline __attribute__((always_inline)) __m256
fs_row_max_ps(const float *xr, const long n, __m256i below)
{
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    /* _mm256_max_ps(a, b) gives b where either is NaN. */
    if (n >= 8) {
        __m256 v = _mm256_max_ps(_mm256_loadu_ps(xr), ninf);
        long j;
        FS_UNROLL for (j = 8; j + 8 <= n; j += 8)
            v = _mm256_max_ps(_mm256_loadu_ps(xr + j), v);
        if (n % 8)
            v = _mm256_max_ps(_mm256_loadu_ps(xr + n - 8), v);
        return v;
    }
    return _mm256_blendv_ps(ninf, _mm256_max_ps(_mm256_maskload_ps(xr, below), ninf),
                            _mm256_castsi256_ps(below));
}

static inline __attribute__((always_inline)) __m256d
fs_row_max_pd(const double *xr, const long n, __m256i below)
{
    const __m256d ninf = _mm256_set1_pd(-INFINITY);
    if (n >= 4) {
        __m256d v = _mm256_max_pd(_mm256_loadu_pd(xr), ninf);
        long j;
        FS_UNROLL for (j = 4; j + 4 <= n; j += 4)
            v = _mm256_max_pd(_mm256_loadu_pd(xr + j), v);
        if (n % 4)
            v = _mm256_max_pd(_mm256_loadu_pd(xr + n - 4), v);
        return v;
    }
    return _mm256_blendv_pd(ninf, _mm256_max_pd(_mm256_maskload_pd(xr, below), ninf),
                            _mm256_castsi256_pd(below));
}

/* m[r] = the max of row r of x (rows of n float32), NaN ignored. */
static inline __attribute__((always_inline)) long
fs_short_max_f_n(const float *x, float *m, long count, const long n)
{
    __m256 v[8];
    const __m256i below = fs_lanes_below_epi32(n);
    long g, k, groups = count / 8;
    for (g = 0; g < groups; g++) {
        FS_UNROLL for (k = 0; k < 8; k++)
            v[k] = fs_row_max_ps(x + (8 * g + k) * n, n, below);
        _mm256_storeu_ps(m + 8 * g, fs_fold8_max_ps(v));
    }
    return 8 * groups;
}

/* m[r] = the max of row r of x (rows of n float64), NaN ignored. */
static inline __attribute__((always_inline)) long
fs_short_max_d_n(const double *x, double *m, long count, const long n)
{
    __m256d v[4];
    const __m256i below = fs_lanes_below_epi64(n);
    long g, k, groups = count / 4;
    for (g = 0; g < groups; g++) {
        FS_UNROLL for (k = 0; k < 4; k++)
            v[k] = fs_row_max_pd(x + (4 * g + k) * n, n, below);
        _mm256_storeu_pd(m + 4 * g, fs_fold4_pd(v, 0));
    }
    return 4 * groups;
}

/* out[r n + j] = vals[r] for j < n, for the rows whose whole vectors end
 * within the count * n elements (all but the last row or few: the caller
 * does those).  Each row's stores overhang into the rows after it, which
 * overwrite them. */
static inline __attribute__((always_inline)) long
fs_short_spread_f_n(const float *vals, float *out, long count, const long n)
{
    /* A last single element is stored alone (a whole vector for it cost
     * rows of 5 float64 7%). */
    const long whole = n / 8 * 8, span = n % 8 > 1 ? whole + 8 : n;
    long r, k, rows = count * n >= span ? (count * n - span) / n + 1 : 0;
    for (r = 0; r < rows; r++) {
        const __m256 b = _mm256_broadcast_ss(vals + r);
        FS_UNROLL for (k = 0; k < span - 7; k += 8)
            _mm256_storeu_ps(out + r * n + k, b);
        if (n % 8 == 1)
            out[r * n + whole] = vals[r];
    }
    return rows;
}

static inline __attribute__((always_inline)) long
fs_short_spread_d_n(const double *vals, double *out, long count, const long n)
{
    const long whole = n / 4 * 4, span = n % 4 > 1 ? whole + 4 : n;
    long r, k, rows = count * n >= span ? (count * n - span) / n + 1 : 0;
    for (r = 0; r < rows; r++) {
        const __m256d b = _mm256_broadcast_sd(vals + r);
        FS_UNROLL for (k = 0; k < span - 3; k += 4)
            _mm256_storeu_pd(out + r * n + k, b);
        if (n % 4 == 1)
            out[r * n + whole] = vals[r];
    }
    return rows;
}

/* total[r] = the sum of row r of e (rows of n float32, FS_SHORT_SUMS_MIN_N
 * <= n <= FS_SHORT_MAX_N), in double, four rows at a time: each row's first
 * eight elements and the rest (a masked load: lanes past n read as 0 and do
 * not fault) widened to four double vectors and added, then the four rows'
 * lanes summed across vectors (fs_fold4_pd).  A last group of fewer than 4
 * rows loads nothing for the missing ones, so every row is summed in the
 * same order wherever it falls. */
static long fs_short_sums_f(const float *e, double *total, long count, long n)
{
    __m256d h[4];
    __m256i rest;
    double last[4];
    long r, k;
    if (n < FS_SHORT_SUMS_MIN_N || n > FS_SHORT_MAX_N)
        return 0;
    rest = fs_lanes_below_epi32(n - 8);
    for (r = 0; r < count; r += 4) {
        FS_UNROLL for (k = 0; k < 4; k++) {
            if (r + k < count) {
                const float *er = e + (r + k) * n;
                __m256 a = _mm256_loadu_ps(er), b = _mm256_maskload_ps(er + 8, rest);
                h[k] = _mm256_add_pd(
                    _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)),
                                  _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1))),
                    _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(b)),
                                  _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1))));
            } else {
                h[k] = _mm256_setzero_pd();
            }
        }
        if (count - r >= 4) {
            _mm256_storeu_pd(total + r, fs_fold4_pd(h, 1));
        } else {
            _mm256_storeu_pd(last, fs_fold4_pd(h, 1));
            for (k = 0; k < count - r; k++)
                total[r + k] = last[k];
        }
    }
    return count;
}

#endif

#if defined(__AVX2__)
/* Every row length from 2 to FS_SHORT_MAX_N, each compiled on its own. */
static long fs_short_max_f(const float *x, float *m, long count, long n)
{
#define FS_CALL_(k) fs_short_max_f_n(x, m, count, k)
    FS_SHORT_CASES(FS_CALL_)
#undef FS_CALL_
}

static long fs_short_max_d(const double *x, double *m, long count, long n)
{
#define FS_CALL_(k) fs_short_max_d_n(x, m, count, k)
    FS_SHORT_CASES(FS_CALL_)
#undef FS_CALL_
}

static long fs_short_spread_f(const float *vals, float *out, long count, long n)
{
#define FS_CALL_(k) fs_short_spread_f_n(vals, out, count, k)
    FS_SHORT_CASES(FS_CALL_)
#undef FS_CALL_
}

static long fs_short_spread_d(const double *vals, double *out, long count, long n)
{
#define FS_CALL_(k) fs_short_spread_d_n(vals, out, count, k)
    FS_SHORT_CASES(FS_CALL_)
#undef FS_CALL_
}

#else
static inline long fs_short_max_f(const float *x, float *m, long count, long n)
{ (void)x; (void)m; (void)count; (void)n; return 0; }
static inline long fs_short_max_d(const double *x, double *m, long count, long n)
{ (void)x; (void)m; (void)count; (void)n; return 0; }
static inline long fs_short_spread_f(const float *vals, float *out, long count, long n)
{ (void)vals; (void)out; (void)count; (void)n; return 0; }
static inline long fs_short_spread_d(const double *vals, double *out, long count, long n)
{ (void)vals; (void)out; (void)count; (void)n; return 0; }
static inline long fs_short_sums_f(const float *e, double *total, long count, long n)
{ (void)e; (void)total; (void)count; (void)n; return 0; }
#endif

#endif /* FASTSOFT_FS_SHORT_H */
