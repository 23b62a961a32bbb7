"""The Cython backend: kernels compiled at install time, OpenMP threads, SIMD variants.

setup.py compiles one kernel source (``_kernels.pxi``) into several modules,
one per instruction set: ``_kernels_baseline`` (SSE2 on x86-64; the only one
elsewhere), ``_kernels_avx2`` (AVX2 + FMA) and ``_kernels_avx512`` (AVX-512
F/DQ/BW/VL), as NumPy does with its dispatchable sources.  On first use this
package asks the CPU what it can run (cpuid, through a function of the
baseline module, which runs on any x86-64 CPU) and imports the best variant.
The environment variable ``FASTSOFT_SIMD`` (``baseline``, ``avx2``,
``avx512``; ``auto`` or empty for the automatic choice) forces one; a
variant that was not built or that this CPU cannot run is an error.
:func:`set_simd` switches in-process (tests use it to cover every variant).

The kernels take the blocks of ``fastsoft._api`` and nothing else:
C-contiguous float32 or float64 arrays of one dtype, (outer, n, inner) for
row functions, 1-D for element-wise ones; they release the GIL.  ``whole``
is the front door's short path: whole C-contiguous arrays, reduced along
their last axis, in one call that declines (returns False) what it cannot
take as they are.
"""

import importlib
import importlib.util
import json
import os
import threading

import numpy as np

__all__ = [
    "softmax",
    "log_softmax",
    "logsumexp",
    "softmax_backward",
    "log_softmax_backward",
    "sigmoid",
    "log_sigmoid",
    "sigmoid_backward",
    "whole",
    "build_info",
    "get_simd",
    "set_simd",
    "simd_variants",
    "set_min_work_per_thread",
    "set_stream_min_bytes",
    "set_band_mode",
    "set_cheap_exps",
    "set_balance_min_bytes",
]

#: Every variant setup.py may build, best first.
VARIANTS = ("avx512", "avx2", "baseline")

#: CPU features (names as in fs_platform.h) each variant needs.
_REQUIRES = {
    "baseline": frozenset(),
    "avx2": frozenset({"avx2", "fma"}),
    "avx512": frozenset({"avx512f", "avx512dq", "avx512bw", "avx512vl", "avx2", "fma"}),
}

ENV_VAR = "FASTSOFT_SIMD"

_RECORD_PATH = os.path.join(os.path.dirname(__file__), "build_record.json")

_lock = threading.Lock()
_impl = None  # the kernel module in use, once chosen


def _module_name(variant):
    return f"{__name__}._kernels_{variant}"


def built_variants():
    """The variants whose modules are installed, best first."""
    found = []
    for name in VARIANTS:
        try:
            if importlib.util.find_spec(_module_name(name)) is not None:
                found.append(name)
        except (ImportError, ValueError):
            pass
    return tuple(found)


def _cpu_features():
    """The CPU's SIMD features (frozenset), or None where undetectable."""
    baseline = importlib.import_module(_module_name("baseline"))
    return baseline.cpu_features()


def simd_variants():
    """The built variants this CPU can run, best first."""
    built = built_variants()
    if "baseline" not in built:
        return ()
    features = _cpu_features()
    return tuple(
        name for name in built
        if not _REQUIRES[name] or (features is not None and _REQUIRES[name] <= features)
    )


def _check_variant(name, source):
    if name not in VARIANTS:
        raise ValueError(
            f"{source}: unknown SIMD variant {name!r}; valid ones are "
            f"{', '.join(map(repr, VARIANTS))} (or 'auto')"
        )
    if name not in built_variants():
        raise RuntimeError(
            f"{source}: the {name!r} variant of fastsoft's Cython kernels was not built "
            f"(built: {', '.join(built_variants()) or 'none'})"
        )
    if name not in simd_variants():
        missing = sorted(_REQUIRES[name] - (_cpu_features() or frozenset()))
        raise RuntimeError(
            f"{source}: this CPU cannot run the {name!r} variant "
            f"(it lacks {', '.join(missing) or 'detectable support'})"
        )
    return name


def _automatic_choice():
    forced = os.environ.get(ENV_VAR, "").strip().lower()
    if forced and forced != "auto":
        return _check_variant(forced, f"environment variable {ENV_VAR}={forced}")
    runnable = simd_variants()
    if not runnable:
        raise ImportError(
            "fastsoft's Cython extension is not built"
            + (f": {_record_error()}" if _record_error() else "")
        )
    return runnable[0]


def _load():
    global _impl
    with _lock:
        if _impl is None:
            _impl = importlib.import_module(_module_name(_automatic_choice()))
        return _impl


def set_simd(name):
    """Use the kernels of SIMD variant ``name`` from now on (None: the automatic
    choice, which honours FASTSOFT_SIMD).  Returns the previous variant."""
    global _impl
    previous = get_simd()
    chosen = _automatic_choice() if name is None else _check_variant(
        str(name).lower(), "fastsoft._cython.set_simd")
    module = importlib.import_module(_module_name(chosen))
    with _lock:
        _impl = module
    return previous


def get_simd():
    """The SIMD variant in use (choosing it now if nothing was called yet)."""
    return (_impl or _load()).VARIANT


def _set_in_every_variant(setter, value):
    """Call the module-level `setter` of every variant this CPU can run (a
    variant it cannot run is never imported: its module's own code may use
    the instructions it was built for); returns the first one's previous
    value."""
    previous = None
    for name in simd_variants():
        old = getattr(importlib.import_module(_module_name(name)), setter)(value)
        previous = old if previous is None else previous
    return previous


def set_min_work_per_thread(elements):
    """Fewest elements worth a thread (default 2**13; a float64 element of
    the functions with exps counts twice; rows at least twice this long are
    split across threads when rows are few).  Tests set 1 to run the
    parallel paths on small arrays.  Applies to every variant; returns the
    previous value."""
    return _set_in_every_variant("set_min_work_per_thread", elements)


def set_stream_min_bytes(nbytes):
    """Smallest result, in bytes, written with streaming (non-temporal)
    stores (default 2**24: results that far outgrow the caches).  Tests set 0
    to run the streaming paths on small arrays.  Applies to every variant;
    returns the previous value."""
    return _set_in_every_variant("set_stream_min_bytes", nbytes)


def set_band_mode(mode):
    """How the backward passes run along a non-last axis: 0 (the default)
    chooses between chunks of columns and bands of rows by shape, 1 always
    takes bands, -1 never.  For tests.  Applies to every variant; returns the
    previous value."""
    return _set_in_every_variant("set_band_mode", mode)


def set_balance_min_bytes(nbytes):
    """Arrays of at least this many bytes (default 2**24) have their rows or
    blocks handed out to threads in chunks as the threads come for them,
    smaller ones in one equal share per thread.  For tests.  Applies to
    every variant; returns the previous value."""
    return _set_in_every_variant("set_balance_min_bytes", nbytes)


def set_cheap_exps(flag):
    """Whether softmax's long rows split across threads take their exps
    twice, each piece shifted by its own max (the default in AVX-512 builds
    on CPUs with 512-bit wide units), or the row's max first (elsewhere).
    For tests.  Applies to every variant; returns the previous value."""
    return bool(_set_in_every_variant("set_cheap_exps", bool(flag)))


def _read_record():
    try:
        with open(_RECORD_PATH) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _record_error():
    record = _read_record()
    return None if record is None else record.get("build_error")


def build_info():
    """How the extension was built and what runs here, for ``python -m fastsoft info``.

    Keys: ``simd`` (variant in use, or None), ``simd_available`` (built variants
    this CPU can run, best first), ``simd_built``, ``simd_forced`` (the value of
    FASTSOFT_SIMD, or None), ``compiled_isa`` (what the compiler targeted for
    the variant in use), ``cpu_features``, ``openmp`` (compiled with OpenMP),
    ``max_threads`` (OpenMP's limit; 1 without OpenMP),
    ``last_level_cache_bytes`` (one L3 cache as Linux's sysfs, or else the C
    library, reports it, 0 where unknown: results whose call's arrays fit in
    a third of it are written with plain stores rather than streaming ones),
    ``build_error`` (why
    the extension or the chosen variant is unusable, or None) and
    ``build_record`` (setup.py's record, or None).
    """
    record = _read_record()
    info = {
        "simd": None,
        "simd_available": (),
        "simd_built": built_variants(),
        "simd_forced": os.environ.get(ENV_VAR, "").strip() or None,
        "compiled_isa": None,
        "cpu_features": None,
        "openmp": bool(record and record.get("openmp")),
        "max_threads": 1,
        "last_level_cache_bytes": 0,
        "build_error": record.get("build_error") if record else None,
        "build_record": record,
    }
    try:
        info["simd_available"] = simd_variants()
        features = _cpu_features() if info["simd_built"] else None
        info["cpu_features"] = None if features is None else tuple(sorted(features))
        module = _impl or _load()
    except (ImportError, RuntimeError, ValueError) as exc:
        info["build_error"] = info["build_error"] or str(exc)
        return info
    info["simd"] = module.VARIANT
    info["compiled_isa"] = module.compiled_isa()
    info["openmp"] = module.openmp_enabled()
    info["max_threads"] = module.max_threads()
    info["last_level_cache_bytes"] = module.last_level_cache_bytes()
    return info


# ---------------------------------------------------------------------------
# The backend interface (see fastsoft._api): the kernels take the boolean
# mask as uint8 (a view, no copy).  fresh: out was allocated for this call;
# the memory-bound kernels then write results above FRESH_PAGES_BYTES with
# plain stores rather than streaming ones (see streams_into in _kernels.pxi).


def _mask_u8(mask):
    return None if mask is None else mask.view(np.uint8)


def softmax(x, mask, out, nthreads, fresh=False):
    (_impl or _load()).softmax(x, _mask_u8(mask), out, nthreads, fresh)


def log_softmax(x, mask, out, nthreads, fresh=False):
    (_impl or _load()).log_softmax(x, _mask_u8(mask), out, nthreads, fresh)


def logsumexp(x, mask, out, nthreads, fresh=False):
    (_impl or _load()).logsumexp(x, _mask_u8(mask), out, nthreads, fresh)


def softmax_backward(y, dy, out, nthreads, fresh=False):
    (_impl or _load()).softmax_backward(y, dy, out, nthreads, fresh)


def log_softmax_backward(y, dy, out, nthreads, fresh=False):
    (_impl or _load()).log_softmax_backward(y, dy, out, nthreads, fresh)


def sigmoid(x, out, nthreads, fresh=False):
    (_impl or _load()).sigmoid(x, out, nthreads, fresh)


def log_sigmoid(x, out, nthreads, fresh=False):
    (_impl or _load()).log_sigmoid(x, out, nthreads, fresh)


def sigmoid_backward(y, dy, out, nthreads, fresh=False):
    (_impl or _load()).sigmoid_backward(y, dy, out, nthreads, fresh)


def whole(op, x, dy, out, n, nthreads, fresh):
    """Function ``op`` on whole C-contiguous arrays (x's rows of n along the
    last axis), not blocks; False, nothing written, where out overlaps an
    input without being it, or an array is not C-contiguous or out is
    read-only (see ``_kernels.pxi``)."""
    return (_impl or _load()).whole(op, x, dy, out, n, nthreads, fresh)
