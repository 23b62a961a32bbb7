"""Fixtures shared by the test modules: the backend matrix and hypothesis settings."""

import ctypes
import ctypes.util
import os


def _cuda_driver_found():
    """True when the NVIDIA driver library loads (without importing numba.cuda)."""
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll", ctypes.util.find_library("cuda")):
        if name:
            try:
                ctypes.CDLL(name)
                return True
            except OSError:
                pass
    return False


# Without a GPU, the CUDA backend's tests run on the Numba CUDA simulator.  This
# must happen before numba.cuda is first imported: fastsoft.backends() below does.
if "NUMBA_ENABLE_CUDASIM" not in os.environ and not _cuda_driver_found():
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

import fastsoft  # noqa: E402
from tests.util import cython_kernels, seed_of  # noqa: E402

# Every CPU backend usable here, picked up automatically as new ones are built.
# The CUDA backend takes device arrays and is tested on its own.
CPU_BACKENDS = tuple(name for name in fastsoft.backends() if name != "cuda")


def _backend_params():
    """(backend, SIMD variant, parallel) for every kernel build this CPU can run.

    The Cython backend runs once per SIMD variant, and its best variant once
    more with every array split across threads ("parallel": rows split, the
    two-level reductions), which small test arrays otherwise never reach.
    """
    params = []
    for name in CPU_BACKENDS:
        if name != "cython":
            params.append(pytest.param((name, None, False), id=name))
            continue
        from fastsoft import _cython

        variants = _cython.simd_variants()
        for variant in variants:
            params.append(pytest.param((name, variant, False), id=f"cython-{variant}"))
        params.append(pytest.param((name, variants[0], True), id=f"cython-{variants[0]}-parallel"))
    return params

# The first call of each kernel compiles it (or loads it from Numba's cache):
# no deadline.  Moderate example counts keep the suite fast.
settings.register_profile("fastsoft", max_examples=60, deadline=None)
settings.load_profile("fastsoft")


@pytest.fixture(scope="session", params=_backend_params())
def backend(request):
    """A CPU backend name, passed explicitly as ``backend=`` by the tests.

    For the Cython backend the fixture also selects the SIMD variant (and, for
    the "-parallel" id, one element per thread as the parallel threshold)
    while the tests that use it run.
    """
    name, variant, parallel = request.param
    if name != "cython":
        yield name
        return
    with cython_kernels(variant, parallel):
        yield name


def _cython_variant_params():
    """(SIMD variant, parallel) for every Cython kernel build this CPU can run."""
    if "cython" not in CPU_BACKENDS:
        return []
    from fastsoft import _cython

    return [pytest.param((variant, parallel), id=f"{variant}{'-parallel' if parallel else ''}")
            for variant in _cython.simd_variants() for parallel in (False, True)]


@pytest.fixture(params=_cython_variant_params())
def cython_variant(request):
    """The Cython backend's module with one SIMD variant selected, and every
    array split across threads or not, for tests of its internal paths."""
    with cython_kernels(*request.param) as cython:
        yield cython


@pytest.fixture
def rng(request):
    """A generator seeded from the test's id, so every test sees its own stable data."""
    return np.random.default_rng(seed_of(request.node.nodeid))


@pytest.fixture
def restore_config():
    """Restore the default backend and the thread count after a test that changes them."""
    threads = fastsoft.get_num_threads()
    with fastsoft.use_backend(fastsoft.get_backend()):
        yield
    fastsoft.set_num_threads(threads)
