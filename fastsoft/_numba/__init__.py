"""The Numba backend: JIT-compiled, parallel over rows, cached on disk.

Importing this module imports numba; the front door does so only on the
first call that needs it.  Kernels compile on first use per dtype and are
cached next to the package, or in a user cache directory when the package
folder is read-only (a system install).
"""

import os
import sys
import threading

from fastsoft._cache import numba_cache_dir

if "NUMBA_CACHE_DIR" not in os.environ and "numba" not in sys.modules:
    _cache_dir = numba_cache_dir(os.path.dirname(__file__))
    if _cache_dir is not None:
        os.environ["NUMBA_CACHE_DIR"] = _cache_dir

import numba  # noqa: E402

from fastsoft._numba import _kernels as k  # noqa: E402

# The "workqueue" threading layer (used only when neither TBB nor OpenMP is
# available) must not be entered from two threads at once; serialize then.
_workqueue_lock = threading.Lock()


def _call(kernel, *args):
    nthreads = args[-1]
    numba.set_num_threads(min(nthreads, numba.config.NUMBA_NUM_THREADS))  # thread-local
    if _layer_is_threadsafe():
        kernel(*args[:-1])
    else:
        with _workqueue_lock:
            kernel(*args[:-1])


_layer_threadsafe = None


def _layer_is_threadsafe():
    global _layer_threadsafe
    if _layer_threadsafe is None:
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel region has run yet
            return False
        _layer_threadsafe = layer != "workqueue"
    return _layer_threadsafe


def threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:
        return "not yet initialized"


# The backend interface (see fastsoft._api).  fresh (out was allocated for
# this call) is a hint for the Cython kernels' choice of stores; Numba's
# stores are its own.


def _mask(mask):
    return k.NO_MASK_3D if mask is None else mask


def softmax(x, mask, out, nthreads, fresh=False):
    if x.shape[2] == 1:
        _call(k.normalize_rows, k.SOFTMAX, x, _mask(mask), out, nthreads)
    else:
        _call(k.normalize_cols, k.SOFTMAX, x, _mask(mask), out, nthreads)


def log_softmax(x, mask, out, nthreads, fresh=False):
    if x.shape[2] == 1:
        _call(k.normalize_rows, k.LOG_SOFTMAX, x, _mask(mask), out, nthreads)
    else:
        _call(k.normalize_cols, k.LOG_SOFTMAX, x, _mask(mask), out, nthreads)


def logsumexp(x, mask, out, nthreads, fresh=False):
    kernel = k.logsumexp_rows if x.shape[2] == 1 else k.logsumexp_cols
    _call(kernel, x, _mask(mask), out, nthreads)


def softmax_backward(y, dy, out, nthreads, fresh=False):
    kernel = k.backward_rows if y.shape[2] == 1 else k.backward_cols
    _call(kernel, k.SOFTMAX_BACKWARD, y, dy, out, nthreads)


def log_softmax_backward(y, dy, out, nthreads, fresh=False):
    kernel = k.backward_rows if y.shape[2] == 1 else k.backward_cols
    _call(kernel, k.LOG_SOFTMAX_BACKWARD, y, dy, out, nthreads)


def sigmoid(x, out, nthreads, fresh=False):
    _call(k.sigmoid, x, out, nthreads)


def log_sigmoid(x, out, nthreads, fresh=False):
    _call(k.log_sigmoid, x, out, nthreads)


def sigmoid_backward(y, dy, out, nthreads, fresh=False):
    _call(k.sigmoid_backward, y, dy, out, nthreads)
