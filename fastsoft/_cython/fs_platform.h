/* What the kernels were compiled with, and what the CPU can run.
 *
 * fs_cpu_features() is called only from the baseline module, which is
 * compiled for plain x86-64 (SSE2), so it runs on any x86-64 CPU; the result
 * decides which variant module may be imported.  __builtin_cpu_supports
 * (gcc >= 4.8, clang >= 3.8) reads cpuid and also checks, through xgetbv,
 * that the operating system saves the AVX / AVX-512 registers.
 */
#ifndef FASTSOFT_FS_PLATFORM_H
#define FASTSOFT_FS_PLATFORM_H

/* OpenMP shim: without -fopenmp the prange loops run serially and there is
 * one thread (the scikit-learn approach). */
#ifdef _OPENMP
#include <omp.h>
static int fs_openmp_enabled(void) { return 1; }
static int fs_omp_max_threads(void) { return omp_get_max_threads(); }
#else
static int fs_openmp_enabled(void) { return 0; }
static int fs_omp_max_threads(void) { return 1; }
#endif

/* Ask for the cache lines of [p, p + bytes) ahead of use (no-op where the
 * compiler has no prefetch builtin).  For the column kernels, whose strips of
 * a few cache lines per row, one row a page apart, the hardware prefetchers
 * do not follow. */
static inline void fs_prefetch_lines(const void *p, long bytes)
{
#if defined(__GNUC__) || defined(__clang__)
    const char *c = (const char *)p;
    for (long off = 0; off < bytes; off += 64)
        __builtin_prefetch(c + off, 0, 3);
#else
    (void)p;
    (void)bytes;
#endif
}

/* Bits of fs_cpu_features(). */
#define FS_CPU_AVX2 1
#define FS_CPU_FMA 2
#define FS_CPU_AVX512F 4
#define FS_CPU_AVX512DQ 8
#define FS_CPU_AVX512BW 16
#define FS_CPU_AVX512VL 32

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define FS_CPU_DETECTION 1
static int fs_cpu_features(void)
{
    int f = 0;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) f |= FS_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= FS_CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= FS_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512dq")) f |= FS_CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512bw")) f |= FS_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512vl")) f |= FS_CPU_AVX512VL;
    return f;
}
#else
/* Other architectures or compilers: only the portable variant is built. */
#define FS_CPU_DETECTION 0
static int fs_cpu_features(void) { return 0; }
#endif
static int fs_cpu_detection(void) { return FS_CPU_DETECTION; }

/* The instruction-set extensions this translation unit was compiled for, as
 * the compiler itself reports them (a check on the build flags). */
static const char *fs_compiled_isa(void)
{
#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    return "avx512f avx512dq avx512bw avx512vl avx2 fma";
#elif defined(__AVX2__) && defined(__FMA__)
    return "avx2 fma";
#elif defined(__AVX2__)
    return "avx2";
#elif defined(__x86_64__) || defined(_M_X64)
    return "sse2";
#elif defined(__aarch64__) || defined(_M_ARM64)
    return "neon";
#else
    return "portable";
#endif
}

#endif /* FASTSOFT_FS_PLATFORM_H */
