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

/* The size of one last-level (L3) cache, in bytes, or 0 where neither the
 * kernel nor the C library tells.  On Linux, the kernel's own account first
 * (/sys/devices/system/cpu/cpu0/cache/index*: the level-3 entry's size, one
 * instance, so an AMD core complex's L3, not the whole chip's); then glibc's
 * sysconf, which reads cpuid itself and can be far off under a hypervisor
 * (on a KVM guest of an AMD EPYC whose L3 the kernel reads as 32 MB,
 * sysconf said 320 MB). */
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif
#include <stdio.h>
static long fs_llc_bytes_sysfs(void)
{
#if defined(__linux__)
    char path[64];
    for (int i = 0; i < 16; i++) {
        int level = 0;
        long kb = 0;
        char unit = 0;
        FILE *f;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!(f = fopen(path, "r")))
            break;
        if (fscanf(f, "%d", &level) != 1)
            level = 0;
        fclose(f);
        if (level != 3)
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!(f = fopen(path, "r")))
            return 0;
        if (fscanf(f, "%ld%c", &kb, &unit) < 1)
            kb = 0;
        fclose(f);
        if (unit == 'M')
            kb *= 1024;
        return kb > 0 ? kb * 1024 : 0;
    }
#endif
    return 0;
}

static long fs_llc_bytes(void)
{
    long bytes = fs_llc_bytes_sysfs();
    if (bytes > 0)
        return bytes;
#if defined(_SC_LEVEL3_CACHE_SIZE)
    bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
    return bytes > 0 ? bytes : 0;
#else
    return 0;
#endif
}

/* The prefetch helpers are always inlined.  gcc 12 treats a function that
 * only prefetches as free of side effects: a split-prefetch helper that it
 * did not inline lost every prefetch (its callers' loops compiled without a
 * single prefetch instruction, and ran 0.84 to 0.92x as fast). */
#if defined(__GNUC__) || defined(__clang__)
#define FS_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define FS_ALWAYS_INLINE inline
#endif

/* Ask for the cache lines of [p, p + bytes) ahead of use (no-op where the
 * compiler has no prefetch builtin).  For the column kernels, whose strips of
 * a few cache lines per row, one row a page apart, the hardware prefetchers
 * do not follow. */
static FS_ALWAYS_INLINE void fs_prefetch_lines(const void *p, long bytes)
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

/* A row's later pass, at its elements [j0, j1) of n, prefetches the same
 * share of the second half of the next row (its first pass prefetched the
 * first half): elements [n/2 + j0/2, n/2 + j1/2) from next, the next row's
 * start, or to its end where the pass is within `tail` elements of its own. */
static FS_ALWAYS_INLINE void fs_prefetch_second_half(const void *next, long itemsize, long n,
                                                     long j0, long j1, long tail)
{
    long start = n / 2 + j0 / 2;
    long end = n - j1 < tail ? n : n / 2 + j1 / 2;
    if (end > start)
        fs_prefetch_lines((const char *)next + start * itemsize, (end - start) * itemsize + 63);
}

/* Streaming (non-temporal) stores, for results too big to stay in cache.
 *
 * A plain store first reads its cache line from memory (to own it), then
 * writes it back when it is evicted: two transfers per line written.  A
 * non-temporal store writes the line without reading it.  For an array far
 * beyond the last-level cache, whose lines are evicted long before anyone
 * reads them again, that saves a third of a copy's memory traffic and a
 * quarter of a two-input backward pass's (glibc's memcpy does the same above
 * about 3/4 of the cache).  Measured here, out = y * (dy - c) on 2^23
 * float32, 2 threads: plain stores 1.66 ms, streaming 1.35 ms, a copy of y
 * 1.12 ms (at 2^22 elements, 48 MB in all: 0.56 / 0.52 ms).
 *
 * fs_stream_copy_f / fs_stream_copy copy n elements from src (a buffer in L1,
 * any alignment) to dst, with aligned vector stores over the whole 64-byte
 * lines of dst and plain stores before the first and after the last.  A line
 * that a chunk covers only in part is stored plainly, all of it: callers
 * stream an array chunk by chunk, and where dst is not aligned as the
 * chunks are (out 32 bytes off x's alignment, as NumPy's recycled blocks
 * often are), half lines streamed beside plainly stored ones cost float32
 * sigmoid and sigmoid_backward of 8.2e6 elements (out=, 2 threads, two
 * runs, medians of 10 alternations) 1.17 to 1.34x the time of plain stores.
 * Whole lines only: 1.23 to 1.56x faster than that, 1.0 to 1.29x as fast
 * as plain stores (float64 sigmoid_backward 1.12x faster, float32
 * softmax_backward (8192, 1000) 1.25x); aligned outs unchanged.
 * Without SSE2 (not x86-64) they are plain copies.  The stores are weakly
 * ordered: every thread that streamed calls fs_stream_fence() before its
 * results are read (once per thread per parallel region: a fence per 4 KB
 * chunk cost 5 to 10%). */
#if defined(__SSE2__)
#include <immintrin.h>
#define FS_STREAM_STORES 1
#else
#define FS_STREAM_STORES 0
#endif

static inline long fs_to_line(const void *p, long itemsize, long n)
{
    /* Elements before p's first 64-byte boundary, at most n (all n if p is
     * not even aligned to its items: then no vector store could be). */
    unsigned long a = (unsigned long)p;
    long h = a % itemsize ? n : (long)((64 - a % 64) % 64) / itemsize;
    return h < n ? h : n;
}

/* Vectors of floats / doubles of the widest kind compiled for. */
#if defined(__AVX512F__)
#define FS_VF_LANES 16
#define FS_VD_LANES 8
#define fs_vf_load _mm512_loadu_ps
#define fs_vd_load _mm512_loadu_pd
#define fs_vf_stream _mm512_stream_ps
#define fs_vd_stream _mm512_stream_pd
#elif defined(__AVX__)
#define FS_VF_LANES 8
#define FS_VD_LANES 4
#define fs_vf_load _mm256_loadu_ps
#define fs_vd_load _mm256_loadu_pd
#define fs_vf_stream _mm256_stream_ps
#define fs_vd_stream _mm256_stream_pd
#elif FS_STREAM_STORES
#define FS_VF_LANES 4
#define FS_VD_LANES 2
#define fs_vf_load _mm_loadu_ps
#define fs_vd_load _mm_loadu_pd
#define fs_vf_stream _mm_stream_ps
#define fs_vd_stream _mm_stream_pd
#endif

static inline void fs_stream_copy_f(float *dst, const float *src, long n)
{
    long j = 0, h = fs_to_line(dst, sizeof *dst, n);
    long lines_end = h + (n - h) / (64 / (long)sizeof *dst) * (64 / (long)sizeof *dst);
    for (; j < h; j++) dst[j] = src[j];
#if FS_STREAM_STORES
    for (; j < lines_end; j += FS_VF_LANES) fs_vf_stream(dst + j, fs_vf_load(src + j));
#endif
    for (; j < n; j++) dst[j] = src[j];
}

static inline void fs_stream_copy(double *dst, const double *src, long n)
{
    long j = 0, h = fs_to_line(dst, sizeof *dst, n);
    long lines_end = h + (n - h) / (64 / (long)sizeof *dst) * (64 / (long)sizeof *dst);
    for (; j < h; j++) dst[j] = src[j];
#if FS_STREAM_STORES
    for (; j < lines_end; j += FS_VD_LANES) fs_vd_stream(dst + j, fs_vd_load(src + j));
#endif
    for (; j < n; j++) dst[j] = src[j];
}

static inline void fs_stream_fence(void)
{
#if FS_STREAM_STORES
    _mm_sfence();
#endif
}

/* Whether this build's exps may be cheap next to a pass over memory: with
 * AVX-512's 16 float32 lanes a long row split across threads shifts each
 * piece by its own max and takes softmax's exps twice (one pass over the
 * row fewer); with AVX2 or less it takes the row's max first and each exp
 * once (rows_split_local and rows_split in _kernels.pxi).  Only on CPUs
 * whose AVX-512 units are 512 bits wide: see fs_cpu_amd. */
#if defined(__AVX512F__)
#define FS_CHEAP_EXPS 1
#else
#define FS_CHEAP_EXPS 0
#endif

/* Whether this is the AVX-512 build: on an AMD CPU, that is Zen 4 or later
 * (see rows_prefetch in _kernels.pxi). */
#if defined(__AVX512F__)
#define FS_AVX512_BUILD 1
#else
#define FS_AVX512_BUILD 0
#endif

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

/* Whether the CPU is an AMD one.  AMD's AVX-512 CPUs (Zen 4) run a 512-bit
 * operation as two 256-bit halves, so 16-lane exps cost twice 8-lane ones,
 * and taking softmax's exps twice does not pay: on an AMD EPYC (Zen 4, KVM
 * guest, 2 threads), alternating processes, medians of 6, rows_split over
 * rows_split_local: softmax (1, 1e7) out= float32 1.35x, float64 1.26x,
 * without out= 1.02x and 1.14x; (4, 1e6) float32 1.45x; (2, 1e5) float64
 * 1.82x.  (Zen 5's server parts have full-width units: not measured.) */
static int fs_cpu_amd(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_is("amd");
}
#else
/* Other architectures or compilers: only the portable variant is built. */
#define FS_CPU_DETECTION 0
static int fs_cpu_features(void) { return 0; }
static int fs_cpu_amd(void) { return 0; }
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
