"""Backend registry, the default backend, and the CPU thread count.

Nothing here imports a backend: availability is decided from installed
packages and modules (``importlib.util.find_spec``), so ``import fastsoft``
stays fast and does not import numba.  A backend module is imported on the
first call that needs it.
"""

import contextlib
import importlib
import importlib.util
import os
import threading

# Every backend fastsoft knows, best first.  The CPU ones take NumPy arrays.
KNOWN_BACKENDS = ("cython", "numba", "cuda")
CPU_BACKENDS = ("cython", "numba")

_MODULES = {
    "cython": "fastsoft._cython",
    "numba": "fastsoft._numba",
    "cuda": "fastsoft._cuda",
}

_lock = threading.Lock()
_loaded = {}
_default_backend = None  # None: pick the best available for the input
_num_threads = None  # None: not yet read from the environment
_env_backend = None  # FASTSOFT_BACKEND, stripped; None: not yet read
_default_cpu = None  # default_cpu_kernels()'s answer; None: not yet decided


def _find(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def unavailable_reason(name):
    """Why backend ``name`` cannot be used here, or None when it can.

    Decided once per process: installed packages do not change under us.
    """
    if name not in _reasons:
        _reasons[name] = _find_unavailable_reason(name)
    return _reasons[name]


_reasons = {}


def _find_unavailable_reason(name):
    if name == "numba":
        return None if _find("numba") else "numba is not installed (pip install numba)"
    if name == "cython":
        # Every build has the baseline variant; setup.py records why it failed.
        if not _find("fastsoft._cython._kernels_baseline"):
            from fastsoft._cython import _record_error

            why = _record_error()
            return "the compiled extension fastsoft._cython was not built" + (
                f": {why}" if why else " (see `python -m fastsoft info`)")
        return None
    if name == "cuda":
        if not _find("numba") or not _find("numba.cuda"):
            return "numba-cuda is not installed (pip install 'fastsoft[cuda]')"
        if not _find("fastsoft._cuda"):
            return "this fastsoft has no CUDA backend"
        from fastsoft._cuda import unavailable_reason as cuda_reason

        return cuda_reason()
    raise ValueError(_unknown_message(name))


def _unknown_message(name):
    return f"unknown backend {name!r}; valid backends are {', '.join(map(repr, KNOWN_BACKENDS))}"


def available_backends():
    return tuple(name for name in KNOWN_BACKENDS if unavailable_reason(name) is None)


def check_backend_name(name):
    """Validate a backend name and that it can run here; return it."""
    if not isinstance(name, str) or name not in KNOWN_BACKENDS:
        raise ValueError(_unknown_message(name))
    reason = unavailable_reason(name)
    if reason is not None:
        raise ValueError(f"backend {name!r} is not available: {reason}")
    return name


def best_cpu_backend():
    for name in CPU_BACKENDS:
        if unavailable_reason(name) is None:
            return name
    raise RuntimeError("no CPU backend is available: install numba or build fastsoft's extension")


def default_backend():
    """The backend that ``backend=None`` uses for NumPy input."""
    global _env_backend
    if _default_backend is not None:
        return _default_backend
    if _env_backend is None:  # read once per process, as FASTSOFT_NUM_THREADS is
        _env_backend = os.environ.get("FASTSOFT_BACKEND", "").strip()
    if _env_backend:
        try:
            check_backend_name(_env_backend)
        except ValueError as exc:
            raise ValueError(f"environment variable FASTSOFT_BACKEND: {exc}") from None
        return _env_backend
    return best_cpu_backend()


def default_cpu_kernels():
    """The kernel module of the default backend when that is a CPU backend,
    else None: the front door's fast path for NumPy input, decided once until
    the default changes."""
    global _default_cpu
    if _default_cpu is None:
        name = default_backend()
        _default_cpu = load_backend(name) if name in CPU_BACKENDS else False
    return _default_cpu or None


def set_default_backend(name):
    global _default_backend, _default_cpu
    _default_backend = None if name is None else check_backend_name(name)
    _default_cpu = None


@contextlib.contextmanager
def use_backend(name):
    """Context manager: make ``name`` the default backend inside the block."""
    global _default_backend, _default_cpu
    previous = _default_backend
    set_default_backend(name)
    try:
        yield
    finally:
        _default_backend = previous
        _default_cpu = None


def load_backend(name):
    """Import and return the kernel module of backend ``name``."""
    module = _loaded.get(name)
    if module is None:
        check_backend_name(name)
        with _lock:
            module = _loaded.get(name)
            if module is None:
                module = importlib.import_module(_MODULES[name])
                _loaded[name] = module
    return module


def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _check_threads(n, source):
    if isinstance(n, bool):
        raise TypeError(f"{source} must be a positive integer, got {n!r}")
    try:
        n = int(n) if isinstance(n, str) else n.__index__()
    except (TypeError, ValueError, AttributeError):
        raise TypeError(f"{source} must be a positive integer, got {n!r}") from None
    if n < 1:
        raise ValueError(f"{source} must be a positive integer, got {n}")
    return n


def get_num_threads():
    global _num_threads
    if _num_threads is None:
        env = os.environ.get("FASTSOFT_NUM_THREADS", "").strip()
        if env:
            try:
                _num_threads = _check_threads(env, "environment variable FASTSOFT_NUM_THREADS")
            except TypeError as exc:
                raise ValueError(str(exc)) from None
        else:
            _num_threads = _cpu_count()
    return _num_threads


def set_num_threads(n):
    global _num_threads
    _num_threads = _check_threads(n, "the number of threads")
