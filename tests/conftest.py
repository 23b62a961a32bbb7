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
from tests.util import seed_of  # noqa: E402

# Every CPU backend usable here, picked up automatically as new ones are built.
# The CUDA backend takes device arrays and is tested on its own.
CPU_BACKENDS = tuple(name for name in fastsoft.backends() if name != "cuda")

# The first call of each kernel compiles it (or loads it from Numba's cache):
# no deadline.  Moderate example counts keep the suite fast.
settings.register_profile("fastsoft", max_examples=60, deadline=None)
settings.load_profile("fastsoft")


@pytest.fixture(scope="session", params=CPU_BACKENDS)
def backend(request):
    """A CPU backend name, passed explicitly as ``backend=`` by the tests."""
    return request.param


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
