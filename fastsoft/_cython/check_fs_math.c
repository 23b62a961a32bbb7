/* Accuracy check of fs_math.h against glibc and 80-bit long double.
 *
 * Not part of the build; run it after changing fs_math.h, once per ISA:
 *     gcc -O3 -fno-math-errno -fno-trapping-math -ffp-contract=fast [-mavx2 -mfma] \
 *         fastsoft/_cython/check_fs_math.c -o /tmp/check_fs_math -lm && /tmp/check_fs_math
 * and copy the numbers into fs_math.h's comments.
 *
 * Errors are in units in the last place of the double result (for fs_exp) or
 * of the float32 result the value is rounded to (for fs_exp_f32: the error of
 * the double before that rounding, so 0.5 is added by the rounding itself).
 * The loops are written so that the functions are vectorized as in the
 * kernels (compile with -fopt-info-vec to see).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_math.h"

#define N (1 << 20)

static double xs[N], ys[N], yf[N];

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static double uniform(double lo, double hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * ((rng_state >> 11) * 0x1p-53);
}

/* Error of y against the exact value t, in ulps of t (subnormals: absolute, in
 * units of the smallest subnormal). */
static double ulp_err(double y, long double t, int mant_bits, int min_exp)
{
    if (isnan(y) || isnan((double)t))
        return (isnan(y) && isnan((double)t)) ? 0.0 : INFINITY;
    if (isinf(y) || isinf((double)t))
        return (y == (double)t) ? 0.0 : INFINITY;
    int e;
    frexpl(t, &e);
    if (e < min_exp)
        e = min_exp;
    long double ulp = ldexpl(1.0L, e - mant_bits);
    return (double)(fabsl((long double)y - t) / ulp);
}

int main(void)
{
    double max_libm = 0, max_ld = 0, max_f32 = 0, max_normal = 0;
    double at_libm = 0, at_ld = 0, at_f32 = 0;
    long differ = 0, total = 0;
    const double ranges[][2] = {
        {-745.2, 709.8}, {-1.0, 1.0}, {-20.0, 0.0}, {-104.0, 0.0}, {-745.2, -700.0}, {700.0, 709.8},
    };
    for (int rg = 0; rg < 6; rg++) {
        for (int rep = 0; rep < 4; rep++) {
            for (int i = 0; i < N; i++)
                xs[i] = uniform(ranges[rg][0], ranges[rg][1]);
            for (int i = 0; i < N; i++)
                ys[i] = fs_exp(xs[i]);
            for (int i = 0; i < N; i++)
                yf[i] = fs_exp_f32(xs[i]);
            for (int i = 0; i < N; i++) {
                long double t = expl((long double)xs[i]);
                double e_libm = ulp_err(ys[i], exp(xs[i]), 53, -1021);
                double e_ld = ulp_err(ys[i], t, 53, -1021);
                total++;
                differ += ys[i] != exp(xs[i]);
                if (e_libm > max_libm) { max_libm = e_libm; at_libm = xs[i]; }
                if (e_ld > max_ld) { max_ld = e_ld; at_ld = xs[i]; }
                if (t >= DBL_MIN && e_ld > max_normal) max_normal = e_ld;
                /* fs_exp_f32 is specified down to exp(x) = 2^-1021 only. */
                if (xs[i] > -708.0 && t <= (long double)FLT_MAX * 2) {
                    double e_f = ulp_err(yf[i], t, 24, -125);
                    if (e_f > max_f32) { max_f32 = e_f; at_f32 = xs[i]; }
                }
            }
        }
    }
    printf("fs_exp     max %.3f ulp vs glibc exp (at %.17g), %.3f ulp vs long double (at %.17g)\n",
           max_libm, at_libm, max_ld, at_ld);
    printf("           %.3f ulp vs long double where the result is normal\n", max_normal);
    printf("           differs from glibc in %ld of %ld arguments\n", differ, total);
    printf("fs_exp_f32 max %.6f float32 ulp before rounding (at %.17g)\n", max_f32, at_f32);

    /* Edges. */
    const double edge[] = {-INFINITY, INFINITY, NAN, -0.0, 0.0, -745.1332191019411, -745.14,
                           -745.13, -708.39, -708.4, 709.78, 709.7827128933840, 709.79, 710.0,
                           -1e300, 1e300, 0x1p-60, -0x1p-60};
    int bad = 0;
    for (unsigned i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        double a = fs_exp(edge[i]), b = exp(edge[i]);
        int same = (isnan(a) && isnan(b)) || a == b;
        if (!same) {
            printf("edge fs_exp(%.17g) = %.17g, glibc %.17g\n", edge[i], a, b);
            bad = 1;
        }
        double f = fs_exp_f32(edge[i]);
        int f_ok = (isnan(f) && isnan(b)) || f == b || fabs(f / b - 1) < 1e-9 ||
                   (edge[i] < -708.0 && (b == 0.0 ? f == 0.0 : f > 0.0 && f <= 0x1p-1021));
        if (!f_ok) {
            printf("edge fs_exp_f32(%.17g) = %.17g, glibc %.17g\n", edge[i], f, b);
            bad = 1;
        }
    }
    printf(bad ? "edge cases: MISMATCH\n" : "edge cases: all as glibc\n");

    /* fs_expf_diff(v, m) for float32 v <= m: the softmax case (and m = 0). */
    {
        static float vf[N], mf[N], yf32[N];
        double max_fe = 0, max_fn = 0; float at_v = 0, at_m = 0, at_vn = 0, at_mn = 0;
        for (int rep = 0; rep < 8; rep++) {
            for (int i = 0; i < N; i++) {
                double scale = (rep % 4 == 0) ? 1.0 : (rep % 4 == 1) ? 10.0 : (rep % 4 == 2) ? 40.0 : 1e4;
                mf[i] = (float)uniform(-scale, scale);
                vf[i] = (rep < 4) ? (float)(mf[i] - uniform(0.0, 104.0)) : (float)uniform(-104.0, 0.0);
                if (rep >= 4) mf[i] = 0.0f;
                if (vf[i] > mf[i]) vf[i] = mf[i];
            }
            for (int i = 0; i < N; i++)
                yf32[i] = fs_expf_diff(vf[i], mf[i]);
            for (int i = 0; i < N; i++) {
                long double t = expl((long double)vf[i] - (long double)mf[i]);
                double e = ulp_err(yf32[i], t, 24, -125);
                if (e > max_fe) { max_fe = e; at_v = vf[i]; at_m = mf[i]; }
            }
            for (int i = 0; i < N; i++)
                yf32[i] = fs_expf_diff_nonpositive(vf[i], mf[i]);
            for (int i = 0; i < N; i++) {
                long double t = expl((long double)vf[i] - (long double)mf[i]);
                double e = ulp_err(yf32[i], t, 24, -125);
                if (e > max_fn) { max_fn = e; at_vn = vf[i]; at_mn = mf[i]; }
            }
        }
        printf("fs_expf_diff max %.3f float32 ulp (at v=%.9g, m=%.9g)\n", max_fe, at_v, at_m);
        printf("fs_expf_diff_nonpositive max %.3f float32 ulp (at v=%.9g, m=%.9g)\n", max_fn,
               at_vn, at_mn);
        const float nonpos[][2] = {{-INFINITY, -INFINITY}, {1.0f, INFINITY}, {INFINITY, INFINITY},
                                   {NAN, 0.0f}, {0.0f, 0.0f}, {-3e38f, 3e38f}, {-1e30f, 0.0f}};
        const float nonpos_want[] = {NAN, 0.0f, NAN, NAN, 1.0f, 0.0f, 0.0f};
        for (unsigned i = 0; i < 7; i++) {
            float a = fs_expf_diff_nonpositive(nonpos[i][0], nonpos[i][1]);
            if (!(a == nonpos_want[i] || (isnan(a) && isnan(nonpos_want[i])))) {
                printf("fs_expf_diff_nonpositive(%g, %g) = %g\n", nonpos[i][0], nonpos[i][1], a);
                bad = 1;
            }
        }
        const float pairs[][2] = {{1e38f, 3e38f}, {-3e38f, 3e38f}, {-1e30f, 0.0f}, {-3e38f, -1e38f}};
        for (unsigned i = 0; i < 4; i++) {
            float a = fs_expf_diff(pairs[i][0], pairs[i][1]);
            if (a != 0.0f) { printf("fs_expf_diff(%g, %g) = %g, not 0\n", pairs[i][0], pairs[i][1], a); bad = 1; }
        }
        const float fe[] = {-INFINITY, INFINITY, NAN, 0.0f, -103.9f, -104.0f, 88.7f, 88.8f, -87.5f};
        for (unsigned i = 0; i < sizeof fe / sizeof fe[0]; i++) {
            float a = fs_expf(fe[i]), b = expf(fe[i]);
            if (!((isnan(a) && isnan(b)) || a == b || fabsf(a / b - 1) < 2e-7f || fabsf(a - b) <= 0x1p-149f)) {
                printf("edge fs_expf(%.9g) = %.9g, glibc %.9g\n", fe[i], a, b);
                bad = 1;
            }
        }
    }

    /* fs_log1p_unit on [0, 1]: uniform, and log-uniform down to 2^-1074. */
    double max_l = 0, at_l = 0, max_lg = 0;
    for (int rep = 0; rep < 8; rep++) {
        for (int i = 0; i < N; i++)
            xs[i] = (rep % 2) ? uniform(0.0, 1.0) : exp2(uniform(-1074.0, 0.0));
        for (int i = 0; i < N; i++)
            ys[i] = fs_log1p_unit(xs[i]);
        for (int i = 0; i < N; i++) {
            double e_l = ulp_err(ys[i], log1pl((long double)xs[i]), 53, -1021);
            double e_g = ulp_err(ys[i], log1p(xs[i]), 53, -1021);
            if (e_l > max_l) { max_l = e_l; at_l = xs[i]; }
            if (e_g > max_lg) max_lg = e_g;
        }
    }
    printf("fs_log1p_unit max %.3f ulp vs long double (at %.17g), %.3f ulp vs glibc log1p\n",
           max_l, at_l, max_lg);
    const double ledge[] = {0.0, 1.0, 0x1p-1074, 0x1p-60, 0.41421356237309503, 0.41421356237309515};
    for (unsigned i = 0; i < sizeof ledge / sizeof ledge[0]; i++)
        if (fs_log1p_unit(ledge[i]) != log1p(ledge[i]))
            printf("edge fs_log1p_unit(%.17g) = %.17g, glibc %.17g\n", ledge[i],
                   fs_log1p_unit(ledge[i]), log1p(ledge[i]));
    if (!isnan(fs_log1p_unit(NAN))) { printf("fs_log1p_unit(NaN) is not NaN\n"); bad = 1; }

    /* fs_exp_small on [-746, 0] and [0, 664], and fs_exp_diff_nonpositive(v, m)
     * for v <= m with m up to 1e4 in magnitude: against long double expl of
     * the exact difference. */
    {
        static double ms[N];
        double max_s = 0, max_d = 0, at_s = 0, at_dv = 0, at_dm = 0;
        for (int rep = 0; rep < 8; rep++) {
            for (int i = 0; i < N; i++)
                xs[i] = (rep % 4 == 0) ? uniform(-746.0, 0.0) : (rep % 4 == 1) ? uniform(-1.0, 0.0)
                      : (rep % 4 == 2) ? uniform(-746.0, -700.0) : uniform(0.0, 664.0);
            for (int i = 0; i < N; i++)
                ys[i] = fs_exp_small(xs[i]);
            for (int i = 0; i < N; i++) {
                double e = ulp_err(ys[i], expl((long double)xs[i]), 53, -1021);
                if (e > max_s) { max_s = e; at_s = xs[i]; }
            }
            double scale = (rep % 4 == 0) ? 1.0 : (rep % 4 == 1) ? 10.0 : (rep % 4 == 2) ? 700.0 : 1e4;
            for (int i = 0; i < N; i++) {
                ms[i] = uniform(-scale, scale);
                xs[i] = ms[i] - uniform(0.0, 746.0);
                if (xs[i] > ms[i]) xs[i] = ms[i];
            }
            for (int i = 0; i < N; i++)
                ys[i] = fs_exp_diff_nonpositive(xs[i], ms[i]);
            for (int i = 0; i < N; i++) {
                double e = ulp_err(ys[i], expl((long double)xs[i] - (long double)ms[i]), 53, -1021);
                if (e > max_d) { max_d = e; at_dv = xs[i]; at_dm = ms[i]; }
            }
        }
        printf("fs_exp_small max %.3f ulp (at %.17g)\n", max_s, at_s);
        printf("fs_exp_diff_nonpositive max %.3f ulp (at v=%.17g, m=%.17g)\n", max_d, at_dv, at_dm);
        const double se[] = {0.0, -0.0, -INFINITY, -745.2, -745.1, -708.4, -1e300, 664.0, 1.0};
        for (unsigned i = 0; i < sizeof se / sizeof se[0]; i++) {
            double a = fs_exp_small(se[i]), b = exp(se[i]);
            if (!(a == b || fabs(a / b - 1) < 2.3e-16 || fabs(a - b) <= 0x1p-1074)) {
                printf("edge fs_exp_small(%.17g) = %.17g, glibc %.17g\n", se[i], a, b);
                bad = 1;
            }
        }
        const double dp[][2] = {{-INFINITY, -INFINITY}, {1.0, INFINITY}, {INFINITY, INFINITY},
                                {NAN, 0.0}, {0.0, 0.0}, {-1e308, 1e308}, {-1e300, 0.0}};
        const double dp_want[] = {NAN, 0.0, NAN, NAN, 1.0, 0.0, 0.0};
        for (unsigned i = 0; i < 7; i++) {
            double a = fs_exp_diff_nonpositive(dp[i][0], dp[i][1]);
            if (!(a == dp_want[i] || (isnan(a) && isnan(dp_want[i])))) {
                printf("fs_exp_diff_nonpositive(%g, %g) = %g\n", dp[i][0], dp[i][1], a);
                bad = 1;
            }
        }
        if (!isnan(fs_exp_small(NAN))) { printf("fs_exp_small(NaN) is not NaN\n"); bad = 1; }
    }

    /* fs_log_ge1 on [1, 2^20]: uniform on [1, 200] and log-uniform. */
    {
        double max_lg1 = 0, at_lg1 = 0;
        for (int rep = 0; rep < 4; rep++) {
            for (int i = 0; i < N; i++)
                xs[i] = (rep % 2) ? uniform(1.0, 200.0) : exp2(uniform(0.0, 20.0));
            for (int i = 0; i < N; i++)
                ys[i] = fs_log_ge1(xs[i]);
            for (int i = 0; i < N; i++) {
                double e = ulp_err(ys[i], logl((long double)xs[i]), 53, -1021);
                if (e > max_lg1) { max_lg1 = e; at_lg1 = xs[i]; }
            }
        }
        printf("fs_log_ge1 max %.3f ulp vs long double (at %.17g)\n", max_lg1, at_lg1);
        const double g1[] = {1.0, 2.0, 0x1.6a09e667f3bcdp0, 0x1.6a09e667f3bcep0, 1e300};
        for (unsigned i = 0; i < sizeof g1 / sizeof g1[0]; i++)
            if (fabs(fs_log_ge1(g1[i]) - log(g1[i])) > 0x1p-52 * fabs(log(g1[i]))) {
                printf("edge fs_log_ge1(%.17g) = %.17g, glibc %.17g\n", g1[i], fs_log_ge1(g1[i]),
                       log(g1[i]));
                bad = 1;
            }
        if (!isnan(fs_log_ge1(NAN))) { printf("fs_log_ge1(NaN) is not NaN\n"); bad = 1; }
    }

    /* The float32 lane versions for sigmoid and log_sigmoid: fs_expf_small
     * on [-104, 0] (and near 0, and through the subnormal range), and
     * fs_log1p_unit_f on [0, 1] (uniform and log-uniform down to 2^-149). */
    {
        static float xf[N], rf[N];
        double max_en = 0, max_lf = 0; float at_en = 0, at_lf = 0;
        for (int rep = 0; rep < 8; rep++) {
            for (int i = 0; i < N; i++)
                xf[i] = (rep % 4 == 0) ? (float)uniform(-104.0, 0.0)
                      : (rep % 4 == 1) ? (float)uniform(-1.0, 0.0)
                      : (rep % 4 == 2) ? (float)uniform(-104.0, -80.0)
                      : (rep < 4) ? (float)-exp2(uniform(-30.0, 6.7)) : (float)uniform(0.0, 43.0);
            for (int i = 0; i < N; i++)
                rf[i] = fs_expf_small(xf[i]);
            for (int i = 0; i < N; i++) {
                double e = ulp_err(rf[i], expl((long double)xf[i]), 24, -125);
                if (e > max_en) { max_en = e; at_en = xf[i]; }
            }
            for (int i = 0; i < N; i++)
                xf[i] = (rep % 2) ? (float)uniform(0.0, 1.0) : (float)exp2(uniform(-149.0, 0.0));
            for (int i = 0; i < N; i++)
                rf[i] = fs_log1p_unit_f(xf[i]);
            for (int i = 0; i < N; i++) {
                double e = ulp_err(rf[i], log1pl((long double)xf[i]), 24, -125);
                if (e > max_lf) { max_lf = e; at_lf = xf[i]; }
            }
        }
        printf("fs_expf_small max %.3f float32 ulp (at %.9g)\n", max_en, at_en);
        printf("fs_log1p_unit_f max %.3f float32 ulp (at %.9g)\n", max_lf, at_lf);
        const float ne[] = {0.0f, -0.0f, -INFINITY, -104.0f, -103.97f, -87.33f, -1e30f, -0x1p-30f,
                            43.0f, 43.6f, 1.0f};
        for (unsigned i = 0; i < sizeof ne / sizeof ne[0]; i++) {
            float a = fs_expf_small(ne[i]), b = expf(ne[i]);
            if (!(a == b || fabsf(a / b - 1) < 2e-7f || fabsf(a - b) <= 0x1p-149f)) {
                printf("edge fs_expf_small(%.9g) = %.9g, glibc %.9g\n", ne[i], a, b);
                bad = 1;
            }
        }
        if (!isnan(fs_expf_small(NAN)) || !isnan(fs_log1p_unit_f(NAN))) {
            printf("fs_expf_small or fs_log1p_unit_f of NaN is not NaN\n");
            bad = 1;
        }
        const float le[] = {0.0f, 1.0f, 0x1p-149f, 0x1p-30f, 0.41421354f, 0.41421357f};
        for (unsigned i = 0; i < sizeof le / sizeof le[0]; i++) {
            float a = fs_log1p_unit_f(le[i]), b = log1pf(le[i]);
            if (!(a == b || fabsf(a / b - 1) < 2.4e-7f)) {
                printf("edge fs_log1p_unit_f(%.9g) = %.9g, glibc %.9g\n", le[i], a, b);
                bad = 1;
            }
        }
    }
    /* The lean exps and the sigmoids built on them: fs_exp_neg on [-746, 0],
     * fs_expf_neg on [-104, 0], and fs_sigmoid / fs_sigmoid_f end to end
     * against long double 1 / (1 + expl(-x)) (uniform near 0, across the
     * range, and out to the subnormal results). */
    {
        static float xf[N], rf[N];
        double max_n = 0, max_nf = 0, max_sg = 0, max_sgf = 0, max_sgb = 0;
        double at_n = 0, at_sg = 0, at_sgb = 0; float at_nf = 0, at_sgf = 0;
        long n_sgb_differ = 0;
        for (int rep = 0; rep < 8; rep++) {
            for (int i = 0; i < N; i++)
                xs[i] = (rep % 4 == 0) ? uniform(-746.0, 0.0) : (rep % 4 == 1) ? uniform(-1.0, 0.0)
                      : (rep % 4 == 2) ? uniform(-746.0, -700.0) : -exp2(uniform(-40.0, 9.5));
            for (int i = 0; i < N; i++)
                ys[i] = fs_exp_neg(xs[i]);
            for (int i = 0; i < N; i++) {
                double e = ulp_err(ys[i], expl((long double)xs[i]), 53, -1021);
                if (e > max_n) { max_n = e; at_n = xs[i]; }
            }
            for (int i = 0; i < N; i++)
                xs[i] = (rep % 4 == 0) ? uniform(-800.0, 800.0) : (rep % 4 == 1) ? uniform(-4.0, 4.0)
                      : (rep % 4 == 2) ? uniform(-746.0, -700.0)
                      : (rep < 4 ? 1 : -1) * exp2(uniform(-40.0, 9.5));
            for (int i = 0; i < N; i++)
                ys[i] = fs_sigmoid(xs[i]);
            for (int i = 0; i < N; i++) {
                double e = ulp_err(ys[i], 1.0L / (1.0L + expl(-(long double)xs[i])), 53, -1021);
                if (e > max_sg) { max_sg = e; at_sg = xs[i]; }
            }
            /* The block form of the kernels (without a division with AVX-512). */
            for (int i = 0; i < N; i++)
                yf[i] = fs_sigmoid_exp(xs[i]);
            fs_sigmoid_from_exp_block(xs, yf, yf, N);
            for (int i = 0; i < N; i++) {
                double e = ulp_err(yf[i], 1.0L / (1.0L + expl(-(long double)xs[i])), 53, -1021);
                if (e > max_sgb) { max_sgb = e; at_sgb = xs[i]; }
                n_sgb_differ += yf[i] != ys[i];
            }
            for (int i = 0; i < N; i++)
                xf[i] = (rep % 4 == 0) ? (float)uniform(-104.0, 0.0)
                      : (rep % 4 == 1) ? (float)uniform(-1.0, 0.0)
                      : (rep % 4 == 2) ? (float)uniform(-104.0, -80.0) : (float)-exp2(uniform(-30.0, 6.7));
            for (int i = 0; i < N; i++)
                rf[i] = fs_expf_neg(xf[i]);
            for (int i = 0; i < N; i++) {
                double e = ulp_err(rf[i], expl((long double)xf[i]), 24, -125);
                if (e > max_nf) { max_nf = e; at_nf = xf[i]; }
            }
            for (int i = 0; i < N; i++)
                xf[i] = (rep % 4 == 0) ? (float)uniform(-110.0, 110.0)
                      : (rep % 4 == 1) ? (float)uniform(-4.0, 4.0)
                      : (rep % 4 == 2) ? (float)uniform(-104.0, -80.0)
                      : (float)((rep < 4 ? 1 : -1) * exp2(uniform(-30.0, 6.7)));
            for (int i = 0; i < N; i++)
                rf[i] = fs_sigmoid_f(xf[i]);
            for (int i = 0; i < N; i++) {
                double e = ulp_err(rf[i], 1.0L / (1.0L + expl(-(long double)xf[i])), 24, -125);
                if (e > max_sgf) { max_sgf = e; at_sgf = xf[i]; }
            }
        }
        printf("fs_exp_neg max %.3f ulp (at %.17g)\n", max_n, at_n);
        /* And on the positive ranges where logsumexp and log_softmax take
         * exp(x) unshifted (plain_exps in _kernels.pxi: row maxima up to 600
         * and 40): fs_exp_neg on [0, 664], fs_expf_neg on [0, 43]. */
        {
            double max_p = 0, max_pf = 0, at_p = 0;
            float at_pf = 0;
            for (int rep = 0; rep < 8; rep++) {
                for (int i = 0; i < N; i++)
                    xs[i] = (rep % 2) ? uniform(0.0, 664.0) : uniform(0.0, 2.0);
                for (int i = 0; i < N; i++)
                    ys[i] = fs_exp_neg(xs[i]);
                for (int i = 0; i < N; i++) {
                    double e = ulp_err(ys[i], expl((long double)xs[i]), 53, -1021);
                    if (e > max_p) { max_p = e; at_p = xs[i]; }
                }
                for (int i = 0; i < N; i++)
                    xf[i] = (rep % 2) ? (float)uniform(0.0, 43.0) : (float)uniform(0.0, 2.0);
                for (int i = 0; i < N; i++)
                    rf[i] = fs_expf_neg(xf[i]);
                for (int i = 0; i < N; i++) {
                    double e = ulp_err(rf[i], expl((long double)xf[i]), 24, -125);
                    if (e > max_pf) { max_pf = e; at_pf = xf[i]; }
                }
            }
            printf("fs_exp_neg on [0, 664] max %.3f ulp (at %.17g)\n", max_p, at_p);
            printf("fs_expf_neg on [0, 43] max %.3f float32 ulp (at %.9g)\n", max_pf, at_pf);
        }
#ifdef FS_CHECK_EXHAUSTIVE
        /* Every float32 x in [-87.34, 43] whose exp is a normal number
         * (about 2.2e9 of them, a minute or two): fs_expf_neg's relative
         * error in float32 eps (2^-23), the bound plain_log_sum in
         * _kernels.pxi argues from.  Compile with -DFS_CHECK_EXHAUSTIVE. */
        {
            double hi = 0, lo = 0;
            float at_hi = 0, at_lo = 0;
            for (int64_t b = -(int64_t)0x42AEAC50; b <= (int64_t)0x422C0000; b++) {
                uint32_t bits = b < 0 ? (uint32_t)(-b) | 0x80000000u : (uint32_t)b;
                float x;
                memcpy(&x, &bits, sizeof x);
                long double t = expl((long double)x);
                if (t < 0x1p-126L)
                    continue;
                double e = (double)(((long double)fs_expf_neg(x) - t) / t) * 0x1p23;
                if (e > hi) { hi = e; at_hi = x; }
                if (e < lo) { lo = e; at_lo = x; }
            }
            printf("fs_expf_neg relative error, every float32 in [-87.34, 43]: +%.4f eps (at %.9g),"
                   " %.4f eps (at %.9g)\n", hi, at_hi, lo, at_lo);
        }
#endif
        printf("fs_sigmoid max %.3f ulp (at %.17g)\n", max_sg, at_sg);
        printf("fs_sigmoid_from_exp_block max %.3f ulp (at %.17g), %ld of %ld differ from fs_sigmoid\n",
               max_sgb, at_sgb, n_sgb_differ, 8L * N);
        printf("fs_expf_neg max %.3f float32 ulp (at %.9g)\n", max_nf, at_nf);
        printf("fs_sigmoid_f max %.3f float32 ulp (at %.9g)\n", max_sgf, at_sgf);
        const double sd[] = {0.0, -0.0, INFINITY, -INFINITY, 745.0, -745.0, 800.0, -800.0, 1e-300};
        for (unsigned i = 0; i < sizeof sd / sizeof sd[0]; i++) {
            double a = fs_sigmoid(sd[i]), b = (double)(1.0L / (1.0L + expl(-(long double)sd[i])));
            if (!(a == b || fabs(a / b - 1) < 4.5e-16 || fabs(a - b) <= 0x1p-1074)) {
                printf("edge fs_sigmoid(%.17g) = %.17g, want %.17g\n", sd[i], a, b);
                bad = 1;
            }
            float af = fs_sigmoid_f((float)sd[i]);
            float bf = (float)(1.0L / (1.0L + expl(-(long double)(float)sd[i])));
            if (!(af == bf || fabsf(af / bf - 1) < 2.4e-7f || fabsf(af - bf) <= 0x1p-149f)) {
                printf("edge fs_sigmoid_f(%.9g) = %.9g, want %.9g\n", (float)sd[i], af, bf);
                bad = 1;
            }
        }
        {
            /* The block form on the edges and NaN, 11 elements: one whole
             * vector and a masked tail with AVX-512. */
            double bx[11], be[11], by[11];
            for (int i = 0; i < 11; i++) {
                bx[i] = i < 9 ? sd[i] : i == 9 ? NAN : -NAN;
                be[i] = fs_sigmoid_exp(bx[i]);
            }
            fs_sigmoid_from_exp_block(bx, be, by, 11);
            for (int i = 0; i < 11; i++) {
                double a = fs_sigmoid(bx[i]);
                if (!(by[i] == a || (isnan(by[i]) && isnan(a)))) {
                    printf("edge fs_sigmoid_from_exp_block(%.17g) = %.17g, fs_sigmoid: %.17g\n",
                           bx[i], by[i], a);
                    bad = 1;
                }
            }
        }
        if (!isnan(fs_sigmoid(NAN)) || !isnan(fs_sigmoid_f(NAN)) || fs_exp_neg(-INFINITY) != 0.0) {
            printf("fs_sigmoid(NaN), fs_sigmoid_f(NaN) or fs_exp_neg(-inf) is wrong\n");
            bad = 1;
        }
    }
    {
        /* The exps for sums (FS_EXPF_SUM_MIN): the bits of fs_expf_neg and
         * fs_expf_diff_nonpositive above it, 0 below, NaN for NaN, over
         * every float32 in [-120, 44] and differences from maxima up to
         * 1e4, vectorized as in the kernels. */
        static float xf[N], mf[N], a[N], b[N], c[N];
        long differ_neg = 0, differ_diff = 0, differ_exact = 0;
        for (int round = 0; round < 16; round++) {
            for (int i = 0; i < N; i++) {
                xf[i] = (float)uniform(-120.0, 44.0);
                mf[i] = (float)uniform(-1e4, 1e4);
                if (i % 1000 == 0)
                    xf[i] = i % 2000 ? NAN : -INFINITY;
                if (i % 1000 == 500)
                    xf[i] = -NAN;
            }
            for (int i = 0; i < N; i++) a[i] = fs_expf_neg(xf[i]);
            for (int i = 0; i < N; i++) b[i] = fs_expf_neg_sum(xf[i]);
            for (int i = 0; i < N; i++) {
                float want = xf[i] < FS_EXPF_SUM_MIN ? 0.0f : a[i];
                if (memcmp(&want, &b[i], sizeof want) && !(isnan(want) && isnan(b[i])))
                    differ_neg++;
            }
            for (int i = 0; i < N; i++) xf[i] = mf[i] + xf[i] - 44.0f;  /* v <= m mostly */
            for (int i = 0; i < N; i++) a[i] = fs_expf_diff_nonpositive(xf[i], mf[i]);
            for (int i = 0; i < N; i++) b[i] = fs_expf_diff_nonpositive_sum(xf[i], mf[i]);
            for (int i = 0; i < N; i++) c[i] = fs_expf_diff_nonpositive_exact(xf[i], mf[i]);
            for (int i = 0; i < N; i++) {
                if (xf[i] > mf[i])
                    continue;
                if (memcmp(&a[i], &c[i], sizeof a[i]) && !(isnan(a[i]) && isnan(c[i])))
                    differ_exact++;
                float want = xf[i] - mf[i] < FS_EXPF_SUM_MIN ? 0.0f : a[i];
                if (memcmp(&want, &b[i], sizeof want) && !(isnan(want) && isnan(b[i])))
                    differ_diff++;
            }
        }
        printf("fs_expf_neg_sum, fs_expf_diff_nonpositive_sum: %ld and %ld results differ\n",
               differ_neg, differ_diff);
        printf("fs_expf_diff_nonpositive_exact: %ld results differ from fs_expf_diff_nonpositive\n",
               differ_exact);
        bad |= differ_neg || differ_diff || differ_exact;
    }

    /* fs_sub_split_f(x, hi, lo) against the double form (float)(x - c) it
     * replaces, c = hi + lo a max + log(sum): maxima up to 2^20 in
     * magnitude, x from the max down to 1e30 below it; then the edges. */
    {
        static float xf[N], a[N];
        const double max_range[] = {1.0, 10.0, 100.0, 1e4, 1048575.0, 0.0};
        const double below[] = {1e-6, 1e-3, 1.0, 10.0, 100.0, 1e4, 1e7, 1e30};
        long differ_split = 0, total_split = 0;
        for (int mr = 0; mr < 6; mr++) {
            for (int b = 0; b < 8; b++) {
                for (int rep = 0; rep < 2; rep++) {
                    float m = (float)uniform(-max_range[mr], max_range[mr]);
                    double c = (double)m + uniform(0.0, 20.0) * (rep ? 1.0 : 1e-6);
                    float hi = (float)c, lo = (float)(c - hi);
                    for (int i = 0; i < N; i++) {
                        xf[i] = (float)((double)m - uniform(0.0, below[b]));
                        if (xf[i] > m)
                            xf[i] = m;
                    }
                    for (int i = 0; i < N; i++) a[i] = fs_sub_split_f(xf[i], hi, lo);
                    for (int i = 0; i < N; i++) {
                        float want = (float)((double)xf[i] - c);
                        differ_split += memcmp(&want, &a[i], sizeof want) != 0;
                        total_split++;
                    }
                }
            }
        }
        const float split_edge[] = {INFINITY, -INFINITY, NAN, -0.0f, 0.0f, -FLT_MAX, FLT_MAX,
                                    0x1p-149f, -0x1p-149f};
        const double split_c[] = {0.0, 3.25, -7.1, 1e6 + 0.3, -1e6 - 0.7};
        for (unsigned i = 0; i < sizeof split_edge / sizeof split_edge[0]; i++) {
            for (unsigned j = 0; j < sizeof split_c / sizeof split_c[0]; j++) {
                float hi = (float)split_c[j], lo = (float)(split_c[j] - hi);
                float got = fs_sub_split_f(split_edge[i], hi, lo);
                float want = (float)((double)split_edge[i] - split_c[j]);
                if (!(got == want || (isnan(got) && isnan(want)))) {
                    printf("edge fs_sub_split_f(%g, %.17g) = %g, want %g\n", split_edge[i],
                           split_c[j], got, want);
                    differ_split++;
                }
            }
        }
        printf("fs_sub_split_f: %ld of %ld results differ from (float)(x - c)\n", differ_split,
               total_split);
        bad |= differ_split != 0;
    }
    return bad;
}
