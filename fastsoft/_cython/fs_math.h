/* Vectorizable exp (and friends) for fastsoft's Cython kernels.
 *
 * Why: gcc turns a loop of exp()/expf() into SIMD calls to glibc's libmvec
 * only under -ffast-math, whose -ffinite-math-only breaks the -inf (masked or
 * underflowing) and NaN semantics fastsoft promises.  These functions are
 * plain branch-free C (selects instead of branches, integer bit tricks
 * instead of libm calls), so that once inlined into a loop the compiler's
 * auto-vectorizer turns them into SSE2 / AVX2+FMA / AVX-512 code, whichever
 * the translation unit is compiled for.  No -ffast-math is needed; they stay
 * correct under -ffp-contract=fast (FMA) and -fno-trapping-math.
 *
 * The method (Cody & Waite range reduction, as in fdlibm's e_exp.c, Cephes,
 * Sleef and oneDNN):
 *     exp(x) = 2^k * exp(r),  k = round(x / ln 2),  r = x - k ln 2, |r| <= ln2 / 2
 * with k ln 2 subtracted in two pieces (ln2_hi has 32 significant bits, so
 * k * ln2_hi is exact for |k| < 2^21 even without FMA), exp(r) from a
 * polynomial, and 2^k built directly in the exponent bits.
 *
 * Polynomials: exp(r) = 1 + r + r^2 q(r) with q a near-minimax (Chebyshev
 * economized, mpmath chebyfit at 50 digits) fit of (exp(r) - 1 - r) / r^2 on
 * [-ln2/2, ln2/2].  Writing it as 1 + (r + r^2 q) makes the last addition the
 * only rounding that matters.  Approximation error, measured at 4000 points
 * in mpmath with the coefficients as rounded to double:
 *     fs_exp      q of degree 9 (exp degree 11): 2^-55.8 relative
 *     fs_exp_f32  q of degree 5 (exp degree 7):  2^-32.1 relative
 *
 * Measured accuracy (check_fs_math.c beside this file: 2.5e7 random
 * arguments over the whole range and sub-ranges, plus the edges, against
 * glibc 2.36's exp and against 80-bit long double expl; the same with the
 * baseline x86-64, AVX2+FMA and AVX-512 flags; all re-measured after the
 * Estrin forms of fs_exp_q and fs_log1p_unit and the lean exps):
 *     fs_exp      max 0.76 ulp where the result is normal, 0.80 ulp in the
 *                 subnormal range (two roundings meet near 2^-1022); never
 *                 more than 1 ulp from glibc, equal to it for 98% of
 *                 arguments; every edge case (+-inf, NaN, +-0, overflow and
 *                 underflow thresholds) equal to glibc.
 *     fs_exp_f32  max 0.0027 float32 ulp before the final rounding to float32.
 *     fs_expf_diff  max 0.79 float32 ulp for exp(v - m), float32 v <= m
 *                 (near the subnormal threshold; 1.3e7 pairs, m up to 1e4).
 *     fs_expf_diff_nonpositive  max 1.08 float32 ulp with FMA (1.02
 *                 without) on the same pairs.
 *     fs_log1p_unit  max 1.03 ulp with FMA (1.33 without) against long
 *                 double log1pl on [0, 1], never more than 1 ulp from glibc's
 *                 log1p.  float64 log_sigmoid end to end, against long double
 *                 on 2.4e7 arguments (normal at scales 0.1 to 30, uniform on
 *                 [-750, 750]): 0.88 eps * max(|ref|, 1), 1.24 eps relative
 *                 (0.85 and 1.10 with the fdlibm-style log1p).
 *     fs_expf_small  max 0.96 float32 ulp on [-104, 43] (subnormal results
 *                 included).
 *     fs_exp_small  max 0.79 ulp (subnormal results near 2^-1022; 0.76
 *                 elsewhere) on [-746, 664].
 *     fs_exp_diff_nonpositive  max 1.06 ulp with FMA (1.03 without) for
 *                 exp(v - m) with v <= m, |m| up to 1e4.
 *     fs_log_ge1     max 0.81 ulp (0.75 with FMA) against logl on [1, 2^20].
 *     fs_log1p_unit_f  max 1.15 float32 ulp with FMA (1.57 without) against
 *                 log1pl on [0, 1].  float32 log_sigmoid end to end, against
 *                 long double on 2.4e7 arguments (normal at scales 0.1 to 30,
 *                 uniform on [-110, 110]): 0.89 eps * max(|ref|, 1), 1.24 eps
 *                 relative (0.86 and 1.05 with the fdlibm-style log1p).
 *     fs_exp_neg     max 1.06 ulp on [-746, 0] (1.02 without FMA); on
 *                 [0, 664] (the unshifted exps of logsumexp and log_softmax)
 *                 1.06 here, 1.08 in another sample of 8.4e6 arguments (1.03
 *                 without FMA).
 *     fs_expf_neg    max 1.06 float32 ulp on [-104, 0], 1.05 on [0, 43];
 *                 relative error +0.761 to -0.715 float32 eps over every
 *                 float32 in [-87.34, 43] whose exp is normal
 *                 (-DFS_CHECK_EXHAUSTIVE).
 *     fs_sigmoid, fs_sigmoid_f  max 2.32 ulp and 2.28 float32 ulp (in ulps of
 *                 the result's binade; relative error at most 1.48 float32
 *                 eps) against long double 1 / (1 + expl(-x)).
 */
#ifndef FASTSOFT_FS_MATH_H
#define FASTSOFT_FS_MATH_H

#include <stdint.h>
#include <math.h>
#include <string.h>

#if defined(_MSC_VER)
#define FS_INLINE static __forceinline
#else
#define FS_INLINE static inline __attribute__((always_inline))
#endif

/* Adding 1.5 * 2^52 rounds a double of magnitude < 2^51 to an integer (in
 * the current rounding mode, round-to-nearest-even) and leaves that integer
 * in the low bits of the significand. */
#define FS_SHIFTER 0x1.8p52
#define FS_LOG2E 0x1.71547652b82fep0          /* 1 / ln 2 */
#define FS_LN2_HI 0x1.62e42fee00000p-1        /* fdlibm e_exp.c ln2HI[0] */
#define FS_LN2_LO 0x1.a39ef35793c76p-33       /* fdlibm e_exp.c ln2LO[0] */

FS_INLINE uint64_t fs_bits(double x) { uint64_t u; memcpy(&u, &x, sizeof u); return u; }
FS_INLINE double fs_from_bits(uint64_t u) { double x; memcpy(&x, &u, sizeof x); return x; }

/* 2^k for an integer-valued double k in [-1022, 1023], built in the exponent
 * field.  (k + FS_SHIFTER) holds k in its low bits; only the low 12 bits of
 * k + 1023 survive the shift, and they are the biased exponent. */
FS_INLINE double fs_pow2i(double k)
{
    return fs_from_bits((fs_bits(k + FS_SHIFTER) + 1023) << 52);
}

/* q(r) = (exp(r) - 1 - r) / r^2 on [-ln2/2, ln2/2], degree 9 (see above):
 * every double exp here is 1 + r + r^2 q(r) with this q. */
FS_INLINE double fs_exp_q(double r)
{
    /* c2..c9 by Estrin's scheme, c1 and c0 by Horner's rule (as in
     * fs_log1p_unit): 5 dependent steps instead of 9, in 11 operations
     * instead of 9. */
    double r2 = r * r;
    double r4 = r2 * r2;
    double p2 = 0x1.5555555553d68p-5 + 0x1.11111111109b5p-7 * r;
    double p4 = 0x1.6c16c17889ef1p-10 + 0x1.a01a01a7c2efep-13 * r;
    double p6 = 0x1.a019b9149a41cp-16 + 0x1.71de0db2f6b19p-19 * r;
    double p8 = 0x1.28917c89a43a7p-22 + 0x1.af389ecfc4b9cp-26 * r;
    double high = (p2 + p4 * r2) + (p6 + p8 * r2) * r4;
    double q = 0x1.5555555555556p-3 + high * r;
    return 0x1.0000000000001p-1 + q * r;
}

/* k = round(x / ln 2) (as a double) and r = x - k ln 2, for |x| < 2^40.
 * *r_err receives the rounding error of r (r + r_err is x - k ln 2 to about
 * 2^-100 absolute), which fs_exp folds back in. */
FS_INLINE double fs_exp_reduce(double x, double *r, double *r_err)
{
    double k = (x * FS_LOG2E + FS_SHIFTER) - FS_SHIFTER;
    double t = x - k * FS_LN2_HI;            /* exact */
    double k_lo = k * FS_LN2_LO;
    *r = t - k_lo;
    *r_err = (t - *r) - k_lo;                /* t - r is exact (Sterbenz) */
    return k;
}

/* exp(x) in double, for float64 data.
 *
 * Every double x: exp(x) to within 1 ulp (nearly always correctly rounded),
 * subnormal results rounded once, 0 below -745.14, +inf above 709.79,
 * exp(-inf) = 0, exp(+inf) = +inf, exp(NaN) = NaN.
 * Max error 0.76 ulp (0.80 for subnormal results), see the top of this file.
 */
FS_INLINE double fs_exp(double x)
{
    double r, r_err;
    double k = fs_exp_reduce(x, &r, &r_err);
    double q = fs_exp_q(r);
    /* 1 + r exactly as hi + lo (Fast2Sum, |r| < 1), so that the only
     * rounding of size 0.5 ulp is the final addition. */
    double hi = 1.0 + r;
    double lo = (1.0 - hi) + r;
    double p = hi + ((lo + r_err) + (r * r) * q);
    /* 2^k as two factors 2^k1 * 2^k2, each a normal double for k in
     * [-1077, 1025]: a subnormal result is rounded only by the last multiply,
     * and 709.44 < x < 709.79 (k = 1024) does not overflow the exponent. */
    double k1 = (k * 0.5 + FS_SHIFTER) - FS_SHIFTER;
    double k2 = k - k1;
    double e = (p * fs_pow2i(k1)) * fs_pow2i(k2);
    /* Outside [-746, 710] exp(x) is 0 or +inf in double, and k above does not
     * fit the exponent bits: replace the garbage at the end.  (Clamping x
     * first instead makes gcc blend every later step.)  Comparisons are
     * false for NaN, which makes every step NaN. */
    e = x < -746.0 ? 0.0 : e;
    return x > 710.0 ? INFINITY : e;
}

/* exp(d + d_lo) in double for d <= 664 (or NaN; -inf gives 0), where d_lo is
 * a correction far below ulp(d) (the rounding error of d = v - m), folded
 * into the reduced argument as in fs_expf_corrected.  fs_exp's polynomial,
 * with 2^k applied as one factor 2^(k + 64) (a normal double for every k in
 * [-1077, 958]) and a final multiply by 2^-64 that rounds subnormal results
 * once: fewer operations than fs_exp's two factors and range checks.
 * 0 below -746.  Max error 0.79 ulp, near the subnormal threshold (see the
 * top of this file). */
FS_INLINE double fs_exp_small_corrected(double d, double d_lo)
{
    double shifted = d * FS_LOG2E + FS_SHIFTER;   /* k in the low bits */
    double k = shifted - FS_SHIFTER;
    double t = d - k * FS_LN2_HI;                /* exact */
    double small = d_lo - k * FS_LN2_LO;
    double r = t + small;
    double r_err = (t - r) + small;               /* Fast2Sum: the rounding error of r */
    double q = fs_exp_q(r);
    double hi = 1.0 + r;                          /* 1 + r = hi + lo exactly */
    double lo = (1.0 - hi) + r;
    double p = hi + ((lo + r_err) + (r * r) * q);
    double scale = fs_from_bits((fs_bits(shifted) + (1023u + 64u)) << 52);
    double e = (p * scale) * 0x1p-64;
    /* Below -746 (k < -1077: the exponent field wraps; d_lo may be NaN for
     * d = -inf) the result is 0; a NaN d fails the comparison. */
    return d < -746.0 ? 0.0 : e;
}

/* exp(x) for x <= 664 (or NaN): sigmoid and log_sigmoid's exp(-|x|). */
FS_INLINE double fs_exp_small(double x) { return fs_exp_small_corrected(x, 0.0); }

/* 2^k exp(r) for the lean exps (fs_exp_neg, fs_exp_diff_nonpositive), given
 * r and shifted (k in its low bits): exp(r) = 1 + (r + r^2 q(r)), and 2^k
 * applied as one factor 2^(k + 64) (a normal double for every k in [-1077,
 * 958]) and a final multiply by 2^-64 that rounds subnormal results once. */
FS_INLINE double fs_exp_lean_tail(double r, double shifted)
{
    double q = fs_exp_q(r);
    double p = 1.0 + (r + (r * r) * q);
    double scale = fs_from_bits((fs_bits(shifted) + (1023u + 64u)) << 52);
    return (p * scale) * 0x1p-64;
}

/* exp(x) for x <= 0 (or NaN; -inf gives 0) without fs_exp_small's
 * compensation terms (the rounding error of r and the exact 1 + r): about
 * 1 ulp instead of 0.79, in 7 operations fewer.  For float64
 * sigmoid and log_sigmoid, whose error budget (4 eps) has room for it and
 * whose speed is this function's, and (valid up to 664, as fs_exp_small)
 * for the unshifted exps of logsumexp and log_softmax rows whose max is at
 * most 600 (plain_exps in _kernels.pxi).  Subnormal results are rounded once, as in
 * fs_exp_small.  Max error 1.06 ulp (see the top of this file). */
FS_INLINE double fs_exp_neg(double x)
{
    double shifted = x * FS_LOG2E + FS_SHIFTER;   /* k in the low bits */
    double k = shifted - FS_SHIFTER;
    double r = (x - k * FS_LN2_HI) - k * FS_LN2_LO;
    double e = fs_exp_lean_tail(r, shifted);
    /* Below -746 (k < -1077: the exponent field wraps; r is NaN for -inf)
     * the result is 0; a NaN x fails the comparison. */
    return x < -746.0 ? 0.0 : e;
}

/* exp(v - m) for v <= m (or NaN), the softmax case, with v - m split
 * exactly (TwoSum) and its low part folded into the reduction; as in
 * fs_exp_neg (and fs_expf_diff_nonpositive), neither r's rounding error nor
 * 1 + r's low part is carried: 6 operations fewer, 1.06 ulp
 * instead of 0.79 (see the top of this file), well inside the 4 eps bounds
 * of float64 softmax (exp, sum, reciprocal, product) and of log_softmax
 * and logsumexp (the log of the sum). */
FS_INLINE double fs_exp_diff_nonpositive(double v, double m)
{
    double d = v - m;
    double v_part = d + m;
    double m_part = d - v_part;
    double d_lo = (v - v_part) - (m + m_part);    /* d + d_lo = v - m exactly */
    double shifted = d * FS_LOG2E + FS_SHIFTER;   /* k in the low bits */
    double k = shifted - FS_SHIFTER;
    double r = (d - k * FS_LN2_HI) + (d_lo - k * FS_LN2_LO);  /* d - k ln2hi exact */
    double e = fs_exp_lean_tail(r, shifted);
    /* Below -746 (k < -1077: the exponent field wraps; d_lo may be NaN for
     * d = -inf) the result is 0; a NaN d fails the comparison. */
    return d < -746.0 ? 0.0 : e;
}

/* exp(x) in double, for float32 data (whose results are rounded to float32).
 *
 * Relative error below 2^-32 (1/256 of a float32 ulp) wherever
 * exp(x) >= 2^-1021 (x >= -708.0); below -708.0 the result is 2^-1074 where
 * exp(x) is a positive float64 (down to -745.13) and 0 beyond (far below
 * anything a float32 result can show, even after multiplying by a finite
 * factor, yet an infinite factor gives infinity as exp's own value does, not
 * 0 * inf = NaN), +inf above 709.79, NaN for NaN.
 * A degree-7 polynomial and a single scale factor make it cheaper than fs_exp.
 */
FS_INLINE double fs_exp_f32(double x)
{
    double r, r_err;
    double k = fs_exp_reduce(x, &r, &r_err);  /* r_err is below what float32 can see */
    double q = 0x1.a124e3f154d32p-13;
    q = q * r + 0x1.6d431504c53d3p-10;
    q = q * r + 0x1.1110e0f726534p-7;
    q = q * r + 0x1.5554e9114ecf9p-5;
    q = q * r + 0x1.5555555a78232p-3;
    q = q * r + 0x1.0000000b8f62bp-1;
    double p = 1.0 + (r + (r * r) * q);
    /* 2p * 2^(k-1): k - 1 <= 1023 keeps k = 1024 (x near 709.7) finite.
     * Below -708.0 (from -708.05 on, k <= -1022: a zero or wrapped exponent
     * field) the result is 2^-1074, or 0 where exp(x) < 2^-1075 rounds to 0;
     * above 710 +inf; selected at the end as in fs_exp. */
    double e = (p + p) * fs_pow2i(k - 1.0);
    e = x < -708.0 ? (x < -745.1332191019412 ? 0.0 : 0x1p-1074) : e;
    return x > 710.0 ? INFINITY : e;
}

/* ---- float32 lanes: twice the elements per vector of the double versions. */

#define FS_SHIFTER_F 0x1.8p23f
#define FS_LOG2E_F 0x1.715476p0f
#define FS_LN2_HI_F 0x1.63p-1f            /* Cephes expf C1: 9 bits, k * C1 exact */
#define FS_LN2_LO_F -0x1.bd0106p-13f      /* ln 2 - C1 */

FS_INLINE uint32_t fs_bits_f(float x) { uint32_t u; memcpy(&u, &x, sizeof u); return u; }
FS_INLINE float fs_from_bits_f(uint32_t u) { float x; memcpy(&x, &u, sizeof x); return x; }

/* The float32 q(r) (exp degree 6), for every float32 exp here. */
FS_INLINE float fs_expf_q(float r)
{
    float q = 0x1.6d10fcp-10f;
    q = q * r + 0x1.120b62p-7f;
    q = q * r + 0x1.55551ap-5f;
    q = q * r + 0x1.5554dep-3f;
    q = q * r + 0x1.0p-1f;
    return q;
}

/* 2^k for an integer-valued float k in [-126, 127]. */
FS_INLINE float fs_pow2i_f(float k)
{
    return fs_from_bits_f((fs_bits_f(k + FS_SHIFTER_F) + 127u) << 23);
}

/* exp(d + d_lo) in float32, where d_lo is a correction far below ulp(d)
 * (the rounding error of d = x - m).  Subnormal results are rounded once;
 * 0 below -103.98, +inf above 88.73, NaN for NaN.  Polynomial: q of degree 4
 * (exp degree 6), near-minimax as fs_exp's, approximation error 2^-26.6.
 * Max error 0.79 float32 ulp (check_fs_math.c, see the top of this file). */
FS_INLINE float fs_expf_corrected(float d, float d_lo)
{
    float k = (d * FS_LOG2E_F + FS_SHIFTER_F) - FS_SHIFTER_F;
    float t = d - k * FS_LN2_HI_F;           /* exact */
    float small = d_lo - k * FS_LN2_LO_F;    /* |small| < 0.04: its rounding is negligible */
    float r = t + small;
    float r_err = (t - r) + small;           /* Fast2Sum: the rounding error of r */
    float q = fs_expf_q(r);
    float hi = 1.0f + r;                     /* 1 + r = hi + lo exactly */
    float lo = (1.0f - hi) + r;
    float p = hi + ((lo + r_err) + (r * r) * q);
    /* 2^k as two normal factors for k in [-150, 129]. */
    float k1 = (k * 0.5f + FS_SHIFTER_F) - FS_SHIFTER_F;
    float k2 = k - k1;
    float e = (p * fs_pow2i_f(k1)) * fs_pow2i_f(k2);
    /* Out of range the steps above compute garbage (k does not fit the
     * exponent bits, and a huge d has a huge d_lo); replace it at the end.
     * (Clamping d first instead makes gcc blend every later step.) */
    e = d < -104.0f ? 0.0f : e;
    return d > 89.0f ? INFINITY : e;
}

FS_INLINE float fs_expf(float x) { return fs_expf_corrected(x, 0.0f); }

/* exp(x) in float32 for x <= 43 (or NaN), the lean version for sigmoid and
 * log_sigmoid (whose argument -|x| is exact: no correction term to fold in)
 * and log_softmax_backward.  Results below 2^-126 are rounded once (as
 * subnormals) by the last multiply: 2^k is applied as 2^(k + 64) (a normal
 * float for every k in [-150, 63]) times 2^-64.  x is clamped to -104 first
 * (exp(-104) < 2^-150 rounds to 0), which also keeps k in range.  NaN stays NaN (the clamp's comparison is
 * false for NaN).  Max error 0.96 float32 ulp (see the top of this file). */
FS_INLINE float fs_expf_small(float x)
{
    float xc = x < -104.0f ? -104.0f : x;
    float shifted = xc * FS_LOG2E_F + FS_SHIFTER_F;  /* k in the low bits */
    float k = shifted - FS_SHIFTER_F;
    float t = xc - k * FS_LN2_HI_F;          /* exact */
    float small = -k * FS_LN2_LO_F;
    float r = t + small;
    float r_err = (t - r) + small;            /* Fast2Sum: the rounding error of r */
    float q = fs_expf_q(r);
    float p = 1.0f + (r + (r_err + (r * r) * q));
    float scale = fs_from_bits_f((fs_bits_f(shifted) + (127u + 64u)) << 23);
    return (p * scale) * 0x1p-64f;
}

/* fs_exp_lean_tail in float32 (fs_expf_neg, fs_expf_diff_nonpositive): 2^k
 * applied as 2^(k + 64) and 2^-64. */
FS_INLINE float fs_expf_lean_tail(float r, float shifted)
{
    float q = fs_expf_q(r);
    float p = 1.0f + (r + (r * r) * q);
    float scale = fs_from_bits_f((fs_bits_f(shifted) + (127u + 64u)) << 23);
    return (p * scale) * 0x1p-64f;
}

/* fs_expf_small without the rounding error of r folded back in: 17
 * operations instead of 20, max error 1.06 float32 ulp instead of 0.96 (see
 * the top of this file).  For float32 sigmoid, whose result it leaves
 * within 1.48 eps (fs_sigmoid_f), and log_sigmoid's log1p(exp(-|x|)),
 * whose end-to-end error measured the same as with fs_expf_small; and
 * (valid up to 43, as fs_expf_small) for the unshifted exps of logsumexp
 * and log_softmax rows whose max is at most 40 (plain_exps in
 * _kernels.pxi). */
FS_INLINE float fs_expf_neg_reduce_above(float x, float lo, float *shifted)
{
    /* exp(x) = 2^k exp(r) for x clamped at lo >= -104 (below -104 the
     * result is 0): returns r, with k in the low bits of *shifted. */
    float xc = x < lo ? lo : x;
    float k;
    *shifted = xc * FS_LOG2E_F + FS_SHIFTER_F;
    k = *shifted - FS_SHIFTER_F;
    return (xc - k * FS_LN2_HI_F) - k * FS_LN2_LO_F;
}

FS_INLINE float fs_expf_neg_reduce(float x, float *shifted)
{
    return fs_expf_neg_reduce_above(x, -104.0f, shifted);
}

FS_INLINE float fs_expf_neg(float x)
{
    float shifted;
    float r = fs_expf_neg_reduce(x, &shifted);
    return fs_expf_lean_tail(r, shifted);
}

/* fs_expf_neg(x) for x >= lo, and exp(lo) below it (lo >= -104).  With lo =
 * FS_EXPF_SUM_MIN the result is a normal number: for exps that only matter
 * beside 1 (sigmoid's 1 + e) or beside x (log_sigmoid's x - log1p(e)), where
 * every e below 2^-25 gives the same bits, this keeps the subnormal products
 * of fs_expf_lean_tail (a slow path on x86) out of them. */
FS_INLINE float fs_expf_neg_above(float x, float lo)
{
    float shifted;
    float r = fs_expf_neg_reduce_above(x, lo, &shifted);
    return fs_expf_lean_tail(r, shifted);
}

/* Exps that are only summed (the sums of float32 logsumexp and log_softmax,
 * in double, at least exp(-40) for the unshifted exps and 1 for the
 * shifted ones): results below 2^-126 are 0 instead of subnormal numbers.
 * A multiply with a subnormal result takes a slow path on x86 (here a
 * vector loop of fs_expf_neg or fs_expf_diff_nonpositive took 2.7 to 3x
 * as long when some of its lanes had subnormal results, as x - max in
 * [-104, -87.3] gives them), and such a term is less than 2^-126 / e^-40 =
 * 2^-68 of the sum, below its double rounding.  Above FS_EXPF_SUM_MIN
 * (exp(-87.33) > 2^-126) the bits are those of fs_expf_neg and
 * fs_expf_diff_nonpositive: 2^k is applied as one factor (the same exact
 * scaling as 2^(k + 64) and then 2^-64 while the result is normal), one
 * multiply fewer.  Below it, the factor is garbage (the exponent field
 * wraps) and discarded.  Some garbage is still a subnormal product: k =
 * -126 with p < 1 (x in [-87.7, -87.34]), and, since the factor keeps only
 * the low bits of k + 127 and v - m is not clamped, k = -126 (mod 256) in
 * windows 0.35 wide every 177 along v - m (v - m = -1e4 - max for a max in
 * [24.30, 24.64]: a row masked with -1e4 took 1.6x the time in float32
 * short-row logsumexp on the AVX2 build, and as long on the AVX-512 build
 * here).  Clamping v - m at -104 as x is clamped cost 27% of the time of
 * a loop of these exps on normal arguments, more than those windows
 * (about 1% of v - m below -104) cost the masked rows that meet them. */
#define FS_EXPF_SUM_MIN (-87.33f)

FS_INLINE float fs_expf_sum_tail(float r, float shifted)
{
    float q = fs_expf_q(r);
    float p = 1.0f + (r + (r * r) * q);
    return p * fs_from_bits_f((fs_bits_f(shifted) + 127u) << 23);
}

/* fs_expf_neg for sums (see FS_EXPF_SUM_MIN): 0 below it. */
FS_INLINE float fs_expf_neg_sum(float x)
{
    float shifted;
    float r = fs_expf_neg_reduce(x, &shifted);
    float e = fs_expf_sum_tail(r, shifted);
    return x < FS_EXPF_SUM_MIN ? 0.0f : e;  /* NaN fails and stays NaN */
}

/* sigmoid(x) = 1 / (1 + exp(-x)), split on the sign so that exp(-|x|) never
 * overflows and x < 0 keeps full relative precision as e / (1 + e) (no
 * 1 - tiny): rounded exp, sum and quotient.  NaN gives NaN.  In two steps
 * (e = fs_sigmoid_exp(x), then fs_sigmoid_from_exp(x, e)) for loops that
 * take a block's exps first (sigmoid_block in _kernels.pxi). */
FS_INLINE float fs_sigmoid_exp_f(float x) { return fs_expf_neg(-fabsf(x)); }

/* fs_sigmoid_exp_f for data with x above 87.33, where sigmoid is 1 for any e
 * below 2^-24: e stays normal there (the same bits, without the subnormal
 * products of fs_expf_lean_tail), and only sigmoid(x < -87.33), which is e
 * and subnormal, forms one.  Two operations more. */
FS_INLINE float fs_sigmoid_exp_wide_f(float x)
{
    return fs_expf_neg_above(-fabsf(x), x > 0.0f ? FS_EXPF_SUM_MIN : -104.0f);
}

/* exp(-|x|) for float32 log_sigmoid = min(x, 0) - log1p(e): below -87.33,
 * x - log1p(e) is x for any e below 2^-60 (log1p(e) is then e, far below
 * half an ulp of x), so e stays normal there, and only log_sigmoid(x >
 * 87.33), which is -e and subnormal, forms one. */
FS_INLINE float fs_log_sigmoid_exp_f(float x)
{
    return fs_expf_neg_above(-fabsf(x), x < 0.0f ? FS_EXPF_SUM_MIN : -104.0f);
}

FS_INLINE float fs_sigmoid_from_exp_f(float x, float e) { return (x >= 0.0f ? 1.0f : e) / (1.0f + e); }
FS_INLINE float fs_sigmoid_f(float x) { return fs_sigmoid_from_exp_f(x, fs_sigmoid_exp_f(x)); }

FS_INLINE double fs_sigmoid_exp(double x) { return fs_exp_neg(-fabs(x)); }
FS_INLINE double fs_sigmoid_from_exp(double x, double e) { return (x >= 0.0 ? 1.0 : e) / (1.0 + e); }
FS_INLINE double fs_sigmoid(double x) { return fs_sigmoid_from_exp(x, fs_sigmoid_exp(x)); }

/* exp(v - m) in float32 with v - m split exactly (TwoSum): a rounded
 * difference d would cost |d| * 2^-24 of relative error (43 eps at d = -87). */
FS_INLINE float fs_expf_diff(float v, float m)
{
    float hi = v - m;
    float v_part = hi + m;
    float m_part = hi - v_part;
    float err = (v - v_part) - (m + m_part);
    /* err is NaN when hi is not finite; the final selects of
     * fs_expf_corrected (0 below -104, +inf above 89) or a NaN hi cover it. */
    return fs_expf_corrected(hi, err);
}

/* fs_expf_diff for v <= m (or NaN), the softmax case (m is the max), with
 * 2^k applied as in fs_expf_small: one scale factor 2^(k + 64) and a
 * final multiply by 2^-64 that rounds subnormal results once.  The
 * difference stays exact (d + d_lo), but, as in fs_expf_neg, neither the
 * rounding error of r nor the low part of 1 + r is carried: 5 operations
 * fewer, 1.31x the speed of the compensated form in a loop, max error 1.08
 * float32 ulp instead of 0.79 (see the top of this file).  The bounds keep
 * room: adding up the worst case of each step, float32 softmax (exp, sum,
 * reciprocal, product) stays within 3.1 eps of its 4, and log_softmax and
 * logsumexp, which take only the log of the sum, within 1.1 eps of their
 * 2 (rows built so that every exp errs the same way measured 1.02 and 0.54
 * eps). */
FS_INLINE float fs_expf_diff_reduce(float v, float m, float d, float *shifted)
{
    /* exp(v - m) = 2^k exp(r) for d = v - m: returns r, with k in the low
     * bits of *shifted; d + d_lo = v - m exactly. */
    float v_part = d + m;
    float m_part = d - v_part;
    float d_lo = (v - v_part) - (m + m_part);
    float k;
    *shifted = d * FS_LOG2E_F + FS_SHIFTER_F;
    k = *shifted - FS_SHIFTER_F;
    return (d - k * FS_LN2_HI_F) + (d_lo - k * FS_LN2_LO_F);  /* d - k ln2hi exact */
}

FS_INLINE float fs_expf_diff_nonpositive(float v, float m)
{
    float d = v - m, shifted;
    float r = fs_expf_diff_reduce(v, m, d, &shifted);
    float e = fs_expf_lean_tail(r, shifted);
    /* Below -104 (k < -150: the exponent field wraps) the result is 0; a NaN
     * d (an inf - inf) fails the comparison and stays NaN. */
    return d < -104.0f ? 0.0f : e;
}

/* fs_expf_diff_nonpositive for sums (see FS_EXPF_SUM_MIN): 0 below it. */
FS_INLINE float fs_expf_diff_nonpositive_sum(float v, float m)
{
    float d = v - m, shifted;
    float r = fs_expf_diff_reduce(v, m, d, &shifted);
    float e = fs_expf_sum_tail(r, shifted);
    return d < FS_EXPF_SUM_MIN ? 0.0f : e;  /* NaN (inf - inf) stays NaN */
}

/* fs_expf_lean_tail without multiplies: the same bits, but no product
 * that rounds to a subnormal number, which takes a slow path on x86 (see
 * FS_EXPF_SUM_MIN).  p 2^k is formed in the integers: bits(p) + k 2^23
 * while the result is normal (its exponent field at least 1); a subnormal
 * result is round(p 2^(k + 149)) 2^-149, and round() is the float add of
 * p 2^(k + 149) (a normal number below 2^23, formed the same way) and 2^23,
 * whose bits minus those of 2^23 are then the subnormal's bits: rounded to
 * nearest, ties to even, as the multiply rounds.  For k >= -150; NaN and
 * the k below are the caller's (fs_expf_diff_nonpositive_exact). */
FS_INLINE float fs_expf_exact_tail(float r, float shifted)
{
    float q = fs_expf_q(r);
    float p = 1.0f + (r + (r * r) * q);
    uint32_t normal = fs_bits_f(p) + (fs_bits_f(shifted) << 23);   /* k in the low bits */
    float rounded = fs_from_bits_f(normal + (149u << 23)) + 0x1p23f;
    float sub = fs_from_bits_f(fs_bits_f(rounded) - fs_bits_f(0x1p23f));
    return (int32_t)normal >= (int32_t)(1u << 23) ? fs_from_bits_f(normal) : sub;
}

/* fs_expf_diff_nonpositive with fs_expf_exact_tail: the same bits, at the
 * same speed where results are subnormal as where they are not (a loop with
 * a quarter of its x - m at -95 took 0.21 ns per element here, against
 * 0.53 for fs_expf_diff_nonpositive), for 36% more time on arguments whose
 * results are normal (0.23 against 0.17 ns). */
FS_INLINE float fs_expf_diff_nonpositive_exact(float v, float m)
{
    float d = v - m, shifted;
    float r = fs_expf_diff_reduce(v, m, d, &shifted);
    float e = fs_expf_exact_tail(r, shifted);
    e = d != d ? d : e;            /* NaN (inf - inf, or NaN data) */
    return d < -104.0f ? 0.0f : e; /* k < -150 (and -inf) */
}

/* v - m split exactly as hi + lo (Knuth's TwoSum); lo is 0 when hi is not
 * finite (then lo would be NaN).  No multiplications, so FMA contraction
 * cannot disturb it; it relies on IEEE order of evaluation (no
 * -fassociative-math, which would simplify lo to 0). */
FS_INLINE double fs_two_diff(double v, double m, double *lo)
{
    double hi = v - m;
    double v_part = hi + m;
    double m_part = hi - v_part;
    double err = (v - v_part) - (m + m_part);
    /* err - err is 0 for finite err and NaN otherwise. */
    *lo = (err - err == 0.0) ? err : 0.0;
    return hi;
}

/* x - (hi + lo) rounded once to float32, for float32 log_softmax's
 * x - (max + log(sum)), whose double c = max + log(sum) is passed split as
 * hi = (float)c and lo = (float)(c - hi) (c - hi - lo is below 2^-48 |c|).
 * x - hi is split exactly into s + err (Knuth's TwoSum in float32), and
 * s + (err - lo) rounds once: the small term err - lo errs by 2^-24 of
 * itself, far below half an ulp of the result, so the result is as close
 * to x - c as the rounding of (float)(x - c) in double leaves it (0.5 ulp),
 * in float32 lanes: twice the elements per instruction of the double form,
 * and no conversions.  A non-finite s (x +-inf or NaN) is the result (err
 * would be NaN).  Relies on IEEE order of evaluation, as fs_two_diff.
 * check_fs_math.c: the same bits as (float)(x - c) in all of 100663296
 * random cases (maxima up to 2^20, x up to 1e30 below) and at the edges. */
FS_INLINE float fs_sub_split_f(float x, float hi, float lo)
{
    float s = x - hi;
    float bb = s - x;
    float err = (x - (s - bb)) + (-hi - bb);
    return (s - s == 0.0f) ? s + (err - lo) : s;
}

/* exp(v - m) without the rounding error of v - m: a rounded difference d
 * costs |d| * eps / 2 of relative error in exp(d) (up to 350 eps for d
 * near -700), so use exp(hi) * (1 + lo) = exp(hi + lo) to first order. */
FS_INLINE double fs_exp_diff(double v, double m)
{
    double lo;
    double e = fs_exp(fs_two_diff(v, m, &lo));
    return e + e * lo;
}

/* Kahan-compensated summation step: total += v, comp tracks the lost low
 * part.  Exact IEEE order required (no -fassociative-math).  Once the total
 * is infinite the compensation (inf - inf) would be NaN and turn a sum of
 * +inf into NaN; it is reset to 0 instead, so non-finite sums come out as
 * plain summation gives them (+inf, -inf, or NaN for inf - inf and NaN). */
FS_INLINE void fs_kahan_add(double *total, double *comp, double v)
{
    double y = v - *comp;
    double t = *total + y;
    double c = (t - *total) - y;
    *comp = (c - c == 0.0) ? c : 0.0;
    *total = t;
}

/* fs_kahan_add without the guard: vectorizable (the guard's select becomes
 * a branch that stops gcc from vectorizing the lanes).  Right whenever the
 * total stays finite; once it overflows to +-inf the compensation turns NaN
 * and so does the total.  Sums of exps (terms <= 1: they cannot overflow, and
 * are NaN only for NaN input) use it as is; sums of input data redo a
 * non-finite total as a plain sum. */
FS_INLINE void fs_kahan_add_fast(double *total, double *comp, double v)
{
    double y = v - *comp;
    double t = *total + y;
    *comp = (t - *total) - y;
    *total = t;
}

/* a * b rounded to double on its own: never fused with a following
 * addition (a volatile value cannot be contracted into an FMA).  For the
 * rare plain sums that must give what the reference's order gives, NaN where
 * products overflow to -inf and then +inf, where fma(a, b, -inf) keeps -inf. */
FS_INLINE double fs_product(double a, double b)
{
    volatile double p = a * b;
    return p;
}

/* a + b as s + err exactly (Knuth's TwoSum, any magnitudes). */
FS_INLINE double fs_two_sum(double a, double b, double *err)
{
    double s = a + b;
    double b_part = s - a;
    double a_part = s - b_part;
    *err = (a - a_part) + (b - b_part);
    return s;
}

/* The total of 8 Kahan-compensated lanes (lane l holds s[l] - c[l]).  A
 * pairwise tree of TwoSums: short, independent dependency chains, so that a
 * short row does not pay for a 16-step sequential combine, and the combine
 * adds no error beyond a few units of 2^-106 (for non-cancelling sums). */
#define FS_LANES 8
FS_INLINE double fs_lanes_total(const double *s, const double *c)
{
    double e0, e1, e2, e3, e4, e5, e6;
    double a0 = fs_two_sum(s[0], s[1], &e0);
    double a1 = fs_two_sum(s[2], s[3], &e1);
    double a2 = fs_two_sum(s[4], s[5], &e2);
    double a3 = fs_two_sum(s[6], s[7], &e3);
    double b0 = fs_two_sum(a0, a1, &e4);
    double b1 = fs_two_sum(a2, a3, &e5);
    double t = fs_two_sum(b0, b1, &e6);
    double errs = ((e0 + e1) + (e2 + e3)) + ((e4 + e5) + e6);
    double comps = ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]));
    /* A non-finite total (an inf or NaN term, or overflow) is the plain sum's:
     * the error terms would be NaN. */
    return (t - t == 0.0) ? t + (errs - comps) : t;
}

/* k ln2 + log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1], given
 * s = f / (2 + f) and k in {integers}: the method of fdlibm's e_log.c with
 * its coefficients Lg1..Lg7 (minimax for log(1+f) = 2 atanh(s) on
 * |s| <= 0.1716, error < 2^-58.45 per fdlibm). */
FS_INLINE double fs_log_core(double f, double s, double k)
{
    double z = s * s;
    double w = z * z;
    double t1 = w * (0x1.999999997fa04p-2 + w * (0x1.c71c51d8e78afp-3 + w * 0x1.39a09d078c69fp-3));
    double t2 = z * (0x1.5555555555593p-1 + w * (0x1.2492494229359p-2 +
                     w * (0x1.7466496cb03dep-3 + w * 0x1.2f112df3e5244p-3)));
    double r = t2 + t1;
    double hfsq = 0.5 * f * f;
    return k * FS_LN2_HI - ((hfsq - (s * (hfsq + r) + k * FS_LN2_LO)) - f);
}

/* log(1 + e) for 0 <= e <= 1 (NaN gives NaN), vectorizable and without a
 * division: e + e^2 R(e), with R = (log1p(e) - e) / e^2 a degree-21
 * polynomial in t = 2e - 1 (Chebyshev interpolation, mpmath at 60 digits,
 * converted to monomials in t there and rounded to double; they decay from
 * 0.38) and the last step one FMA.  As fs_log1p_unit_f: the terms cancel at
 * most 0.31 against 1, and R's rounding reaches the result at a third of
 * its size.  27 operations where the fdlibm method (s_log1p.c: range
 * reduction, s = f / (2 + f), a correction y / u) took about 35 and a
 * division: float64 log_sigmoid on (8192, 1000), out=, 2 threads, went
 * from 8.9 to 5.9 ms.  Used for log_sigmoid = min(x, 0) - log1p(exp(-|x|)).
 * Max error 1.03 ulp (see the top of this file). */
FS_INLINE double fs_log1p_unit(double e)
{
    /* R(t) = c0 + c1 t + ... + c21 t^21.  c2..c21 go by Estrin's scheme
     * (pairs, then pairs of pairs in t^2, t^4, t^8), c1 and c0, whose
     * rounding reaches the result, by Horner's rule: 9 dependent operations
     * where Horner's rule alone took 23, for 3 more in all (27).  A
     * loop of float64 log_sigmoid was bound by that chain's latency, not by
     * the FMA units (one core: 0.90 -> 0.79 ns per element).  Estrin's
     * scheme all the way measured 1.55 ulp; this 1.03 (1.02 before). */
    double t = 2.0 * e - 1.0;
    double t2 = t * t;
    double t4 = t2 * t2;
    double t8 = t4 * t4;
    double p2 = -0x1.7ddf1fe86aa4cp-6 + 0x1.a279c04c7e5f2p-8 * t;
    double p4 = -0x1.da348248c9748p-10 + 0x1.131116f859f99p-11 * t;
    double p6 = -0x1.44ba45b687236p-13 + 0x1.849050e7f3441p-15 * t;
    double p8 = -0x1.d5fb0441effb5p-17 + 0x1.1ebcf501a62b1p-18 * t;
    double p10 = -0x1.607349cc55133p-20 + 0x1.b3ea35294a5dep-22 * t;
    double p12 = -0x1.0f0bbf3f54cfdp-23 + 0x1.5292b278874afp-25 * t;
    double p14 = -0x1.a77959c2fe8ccp-27 + 0x1.0a7ccaee16ae0p-28 * t;
    double p16 = -0x1.5b909f11b2493p-30 + 0x1.b84526ab4cb93p-32 * t;
    double p18 = -0x1.aab6e156061b4p-34 + 0x1.0ed3a9c2aeec6p-35 * t;
    double p20 = -0x1.8b43016a53ef8p-36 + 0x1.f9f2cb626decdp-38 * t;
    double q2 = p2 + p4 * t2;
    double q6 = p6 + p8 * t2;
    double q10 = p10 + p12 * t2;
    double q14 = p14 + p16 * t2;
    double q18 = p18 + p20 * t2;
    double s2 = q2 + q6 * t4;
    double s10 = q10 + q14 * t4;
    double high = s2 + (s10 + q18 * t8) * t8;     /* c2 + c3 t + ... + c21 t^19 */
    double r = 0x1.6f0d7bd624bd7p-4 + high * t;   /* c1 */
    r = -0x1.833704d019ed0p-2 + r * t;             /* c0 */
    return (e >= 0x1p-500 ? e * e : 0.0) * r + e;  /* see fs_log1p_unit_f */
}

/* log(x) for finite x >= 1 (NaN gives NaN), vectorizable: x = 2^k m with m
 * in [sqrt(1/2), sqrt(2)), then fs_log_core.  For the log of a softmax sum
 * (>= 1: the max's own term is 1), row by row over a block of short rows.
 * Max error 0.81 ulp (see the top of this file). */
FS_INLINE double fs_log_ge1(double x)
{
    uint64_t bits = fs_bits(x);
    /* The biased exponent as a double: its bits under 2^52's exponent. */
    double biased = fs_from_bits((bits >> 52) | 0x4330000000000000u) - 0x1p52;
    double m = fs_from_bits((bits & 0x000fffffffffffffu) | 0x3ff0000000000000u);
    int big = m > 0x1.6a09e667f3bcdp0;       /* sqrt(2) */
    double k = biased - (big ? 1022.0 : 1023.0);
    m = big ? 0.5 * m : m;
    double f = m - 1.0;                       /* exact */
    double result = fs_log_core(f, f / (2.0 + f), k);
    return x == x ? result : x;
}

/* log(1 + e) for float32 0 <= e <= 1 (NaN gives NaN), in float32 lanes and
 * without a division: e + e^2 R(e), with R a degree-9 polynomial for
 * (log1p(e) - e) / e^2 on [0, 1] (Chebyshev interpolation at 400 nodes,
 * mpmath at 40 digits, coefficients rounded to float32) and the last step
 * one FMA.  The terms cancel at most 0.31 against 1 (at e = 1), so R's
 * rounding reaches the result at a third of its size.  11 operations where
 * fdlibm's method (range reduction, s = f / (2 + f)) took 22 and a
 * division: float32 log_sigmoid on (8192, 1000), out=, 2 threads, went
 * from 2.34 to 1.36 ms (1.7x the time of a copy to 1.03x).  Max error 1.15
 * float32 ulp (see the top of this file). */
FS_INLINE float fs_log1p_unit_f(float e)
{
    float r = 0x1.78af8ap-9f;
    r = r * e + -0x1.1eebacp-6f;
    r = r * e + 0x1.990946p-5f;
    r = r * e + -0x1.78f410p-4f;
    r = r * e + 0x1.0bb368p-3f;
    r = r * e + -0x1.4f6e8ep-3f;
    r = r * e + 0x1.98c482p-3f;
    r = r * e + -0x1.fff066p-3f;
    r = r * e + 0x1.55551cp-2f;
    r = r * e + -0x1.000000p-1f;
    /* e^2 below 2^-126 would be a subnormal product, which takes a slow path
     * on x86 (see FS_EXPF_SUM_MIN): float32 log_sigmoid of |x| in [44, 87]
     * took 1.3 to 1.5x its usual time.  Below 2^-60 the e^2 R term is
     * below half an ulp of e, so 0 in its place gives the same bits (so it
     * did for every float32 e in [0, 1], on three ISAs). */
    return (e >= 0x1p-60f ? e * e : 0.0f) * r + e;
}

/* ---- Horizontal reductions of the kernels' 32 accumulator lanes.
 *
 * A row's max and sum are kept in 32 lanes (arrays the loop vectorizer maps
 * onto vector registers); folding them into one value is a fixed cost per
 * row.  Written as C loops, gcc leaves the lanes on the stack and reads them
 * back one by one after vector stores: store-forwarding stalls that cost
 * about 90 ns per row (softmax on rows of 129 float32 ran at half PyTorch's
 * speed).  Here they are folded in registers, with intrinsics where the
 * module is compiled for AVX-512 or AVX2 and a plain tree otherwise.  The
 * max lanes never hold NaN (the kernels' max skips it), so vmaxps/vmaxpd
 * give the same result as the C comparison. */
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

FS_INLINE float fs_max32_f(const float *m)
{
#if defined(__AVX512F__)
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_loadu_ps(m), _mm512_loadu_ps(m + 16)));
#elif defined(__AVX2__)
    __m256 a = _mm256_max_ps(_mm256_max_ps(_mm256_loadu_ps(m), _mm256_loadu_ps(m + 8)),
                             _mm256_max_ps(_mm256_loadu_ps(m + 16), _mm256_loadu_ps(m + 24)));
    __m128 b = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_max_ps(b, _mm_movehl_ps(b, b));
    b = _mm_max_ss(b, _mm_shuffle_ps(b, b, 1));
    return _mm_cvtss_f32(b);
#else
    float t[16];
    for (int i = 0; i < 16; i++) t[i] = m[i] > m[i + 16] ? m[i] : m[i + 16];
    for (int h = 8; h > 0; h /= 2)
        for (int i = 0; i < h; i++) t[i] = t[i] > t[i + h] ? t[i] : t[i + h];
    return t[0];
#endif
}

FS_INLINE double fs_max32(const double *m)
{
#if defined(__AVX512F__)
    __m512d a = _mm512_max_pd(_mm512_max_pd(_mm512_loadu_pd(m), _mm512_loadu_pd(m + 8)),
                              _mm512_max_pd(_mm512_loadu_pd(m + 16), _mm512_loadu_pd(m + 24)));
    return _mm512_reduce_max_pd(a);
#elif defined(__AVX2__)
    __m256d a = _mm256_max_pd(_mm256_max_pd(_mm256_loadu_pd(m), _mm256_loadu_pd(m + 4)),
                              _mm256_max_pd(_mm256_loadu_pd(m + 8), _mm256_loadu_pd(m + 12)));
    __m256d b = _mm256_max_pd(_mm256_max_pd(_mm256_loadu_pd(m + 16), _mm256_loadu_pd(m + 20)),
                              _mm256_max_pd(_mm256_loadu_pd(m + 24), _mm256_loadu_pd(m + 28)));
    a = _mm256_max_pd(a, b);
    __m128d c = _mm_max_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    c = _mm_max_sd(c, _mm_unpackhi_pd(c, c));
    return _mm_cvtsd_f64(c);
#else
    double t[16];
    for (int i = 0; i < 16; i++) t[i] = m[i] > m[i + 16] ? m[i] : m[i + 16];
    for (int h = 8; h > 0; h /= 2)
        for (int i = 0; i < h; i++) t[i] = t[i] > t[i + h] ? t[i] : t[i + h];
    return t[0];
#endif
}

/* Plain sum of 32 lanes (the float32 data's sums in double, not
 * compensated: any order is as exact as float32 results can show). */
FS_INLINE double fs_sum32(const double *s)
{
#if defined(__AVX512F__)
    __m512d a = _mm512_add_pd(_mm512_add_pd(_mm512_loadu_pd(s), _mm512_loadu_pd(s + 8)),
                              _mm512_add_pd(_mm512_loadu_pd(s + 16), _mm512_loadu_pd(s + 24)));
    return _mm512_reduce_add_pd(a);
#elif defined(__AVX2__)
    __m256d a = _mm256_add_pd(_mm256_add_pd(_mm256_loadu_pd(s), _mm256_loadu_pd(s + 4)),
                              _mm256_add_pd(_mm256_loadu_pd(s + 8), _mm256_loadu_pd(s + 12)));
    __m256d b = _mm256_add_pd(_mm256_add_pd(_mm256_loadu_pd(s + 16), _mm256_loadu_pd(s + 20)),
                              _mm256_add_pd(_mm256_loadu_pd(s + 24), _mm256_loadu_pd(s + 28)));
    a = _mm256_add_pd(a, b);
    __m128d c = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    c = _mm_add_sd(c, _mm_unpackhi_pd(c, c));
    return _mm_cvtsd_f64(c);
#else
    double t[16];
    for (int i = 0; i < 16; i++) t[i] = s[i] + s[i + 16];
    for (int h = 8; h > 0; h /= 2)
        for (int i = 0; i < h; i++) t[i] = t[i] + t[i + h];
    return t[0];
#endif
}

/* xb[l] = x[l] for l < w, -inf for w <= l < 32 (w <= 32): a row's head or
 * tail padded to one whole 32-lane loop.  Masked vector loads and whole
 * vector stores, so that the loop reading xb back gets its data by store
 * forwarding (element-wise stores followed by a vector load of the same
 * bytes stall).  Never reads x[w] or beyond. */
FS_INLINE void fs_pad32_f(const float *x, long w, float *xb)
{
#if defined(__AVX512F__)
    __m512 ninf = _mm512_set1_ps(-INFINITY);
    __mmask16 lo = (__mmask16)(w >= 16 ? 0xffff : (1u << w) - 1u);
    __mmask16 hi = (__mmask16)(w <= 16 ? 0 : (w >= 32 ? 0xffff : (1u << (w - 16)) - 1u));
    _mm512_storeu_ps(xb, _mm512_mask_loadu_ps(ninf, lo, x));
    _mm512_storeu_ps(xb + 16, _mm512_mask_loadu_ps(ninf, hi, x + 16));
#elif defined(__AVX2__)
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int q = 0; q < 4; q++) {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(w - 8 * q)), lane);
        __m256 v = _mm256_maskload_ps(x + 8 * q, m);     /* masked-off lanes: not read */
        _mm256_storeu_ps(xb + 8 * q, _mm256_blendv_ps(ninf, v, _mm256_castsi256_ps(m)));
    }
#else
    for (long l = 0; l < 32; l++) xb[l] = l < w ? x[l] : -INFINITY;
#endif
}

FS_INLINE void fs_pad32(const double *x, long w, double *xb)
{
#if defined(__AVX512F__)
    __m512d ninf = _mm512_set1_pd(-INFINITY);
    for (int q = 0; q < 4; q++) {
        long r = w - 8 * q;
        __mmask8 m = (__mmask8)(r <= 0 ? 0 : (r >= 8 ? 0xff : (1u << r) - 1u));
        _mm512_storeu_pd(xb + 8 * q, _mm512_mask_loadu_pd(ninf, m, x + 8 * q));
    }
#elif defined(__AVX2__)
    const __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
    const __m256d ninf = _mm256_set1_pd(-INFINITY);
    for (int q = 0; q < 8; q++) {
        __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(w - 4 * q), lane);
        __m256d v = _mm256_maskload_pd(x + 4 * q, m);    /* masked-off lanes: not read */
        _mm256_storeu_pd(xb + 4 * q, _mm256_blendv_pd(ninf, v, _mm256_castsi256_pd(m)));
    }
#else
    for (long l = 0; l < 32; l++) xb[l] = l < w ? x[l] : -INFINITY;
#endif
}

/* dst[0:w] = src[0:w] for w <= 32 (src holds 32 elements): a row's head or
 * tail of exps, from the padded lanes, with masked vector stores (masked-off
 * lanes are neither written nor faulted).  As a loop, gcc 12 made it `rep
 * movsq`, whose start-up cost about 100 ns per row on rows whose ends are
 * not on cache lines (NumPy's large arrays start 16 bytes past one). */
FS_INLINE void fs_copy32_f(float *dst, const float *src, long w)
{
#if defined(__AVX512F__)
    __mmask16 lo = (__mmask16)(w >= 16 ? 0xffff : (1u << w) - 1u);
    __mmask16 hi = (__mmask16)(w <= 16 ? 0 : (w >= 32 ? 0xffff : (1u << (w - 16)) - 1u));
    _mm512_mask_storeu_ps(dst, lo, _mm512_loadu_ps(src));
    _mm512_mask_storeu_ps(dst + 16, hi, _mm512_loadu_ps(src + 16));
#elif defined(__AVX2__)
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int q = 0; q < 4; q++) {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(w - 8 * q)), lane);
        _mm256_maskstore_ps(dst + 8 * q, m, _mm256_loadu_ps(src + 8 * q));
    }
#else
    for (long l = 0; l < w; l++) dst[l] = src[l];
#endif
}

FS_INLINE void fs_copy32(double *dst, const double *src, long w)
{
#if defined(__AVX512F__)
    for (int q = 0; q < 4; q++) {
        long r = w - 8 * q;
        __mmask8 m = (__mmask8)(r <= 0 ? 0 : (r >= 8 ? 0xff : (1u << r) - 1u));
        _mm512_mask_storeu_pd(dst + 8 * q, m, _mm512_loadu_pd(src + 8 * q));
    }
#elif defined(__AVX2__)
    const __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
    for (int q = 0; q < 8; q++) {
        __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(w - 4 * q), lane);
        _mm256_maskstore_pd(dst + 4 * q, m, _mm256_loadu_pd(src + 4 * q));
    }
#else
    for (long l = 0; l < w; l++) dst[l] = src[l];
#endif
}

/* out[i] = fs_sigmoid_from_exp(x[i], e[i]) for i < n (out may be x).  With
 * AVX-512 without a division: float64 vdivpd, one per 8 elements, took about
 * as long as the exps (float64 sigmoid on (65536, 10), 2 threads, in cache,
 * ran 1.4x faster with a product in its place, and 1.11x with this; (32,
 * 50257) 1.12x; no change on 64 MB, bound by memory).  1 / d, for d = 1 + e in
 * [1, 2], starts from vrcp14pd (relative error below 2^-14), takes two
 * Newton steps r + r (1 - d r) (2^-28, then rounding's), and the quotient
 * q = num r one correction q + r (num - d q), whose remainder the FMA forms
 * exactly.  On check_fs_math.c's 8.4e6 arguments and its edge cases, every
 * result equals fs_sigmoid's (the division's); without the correction, 7%
 * differed (max error 2.64 ulp instead of 2.32).  Every element, the tail's
 * too (masked), takes the same steps, so a result does not depend on where
 * it lies.  NaN (e is NaN for x NaN) stays NaN.  Without AVX-512 (no double
 * reciprocal estimate), the division. */
FS_INLINE void fs_sigmoid_from_exp_block(const double *x, const double *e, double *out, long n)
{
#if defined(__AVX512F__)
    const __m512d one = _mm512_set1_pd(1.0);
    for (long i = 0; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n - i)) - 1u);
        __m512d xv = _mm512_maskz_loadu_pd(k, x + i);
        __m512d ev = _mm512_maskz_loadu_pd(k, e + i);
        __m512d d = _mm512_add_pd(one, ev);
        __m512d num = _mm512_mask_blend_pd(
            _mm512_cmp_pd_mask(xv, _mm512_setzero_pd(), _CMP_GE_OQ), ev, one);
        __m512d r = _mm512_rcp14_pd(d);
        r = _mm512_fmadd_pd(r, _mm512_fnmadd_pd(d, r, one), r);
        r = _mm512_fmadd_pd(r, _mm512_fnmadd_pd(d, r, one), r);
        __m512d q = _mm512_mul_pd(num, r);
        q = _mm512_fmadd_pd(_mm512_fnmadd_pd(d, q, num), r, q);
        _mm512_mask_storeu_pd(out + i, k, q);
    }
#else
    for (long i = 0; i < n; i++)
        out[i] = fs_sigmoid_from_exp(x[i], e[i]);
#endif
}

#endif /* FASTSOFT_FS_MATH_H */
