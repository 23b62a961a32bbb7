"""The CUDA backend: numba.cuda kernels on device arrays.

Device arrays (anything with ``__cuda_array_interface__``: CuPy, Numba, PyTorch
CUDA tensors; and the CUDA simulator's arrays) are used where they lie and the
result is the same kind of array.  NumPy or other host input is copied to the
device and the result copied back.

Importing this package does not import numba: :func:`unavailable_reason` is
what ``fastsoft._config`` asks, and it must answer (not raise) on machines
without numba-cuda or without a GPU.  The kernels live in ``_kernels``, the
launch parameters in ``_launch`` (:class:`LaunchConfig`), the front door's half
in ``_run``.
"""

import importlib.util


def unavailable_reason():
    """Why the CUDA backend cannot run here, or None when it can.

    True under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), which runs the
    same kernels on the CPU.
    """
    try:
        if importlib.util.find_spec("numba_cuda") is None:
            return "numba-cuda is not installed (pip install 'fastsoft[cuda]')"
    except (ImportError, ValueError):
        return "numba-cuda is not installed (pip install 'fastsoft[cuda]')"
    try:
        from numba import cuda
    except Exception as exc:  # a broken CUDA Python install, missing bindings, ...
        return f"numba.cuda cannot be imported: {exc}"
    try:
        available = cuda.is_available()
    except Exception as exc:
        return f"the CUDA driver cannot be used: {exc}"
    if not available:
        return (
            "no CUDA GPU or driver was found (numba.cuda.is_available() is False); "
            "NUMBA_ENABLE_CUDASIM=1 runs the kernels on the CUDA simulator instead"
        )
    return None


def as_device_input(a, name):
    """A device array as it is (no copy); host input as an ndarray, to copy later."""
    from fastsoft._cuda._run import as_device_input

    return as_device_input(a, name)


def run(op, inputs, axes, *, out, result, compute, backend, where=None, reduce=False,
        keepdims=False):
    """Compute ``op`` on the GPU: see ``fastsoft._cuda._run.run``."""
    from fastsoft._cuda._run import run

    return run(op, inputs, axes, out=out, result=result, compute=compute, backend=backend,
               where=where, reduce=reduce, keepdims=keepdims)
