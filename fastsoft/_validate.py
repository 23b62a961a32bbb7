"""Argument checks shared by the front door and the reference.

Every check here raises before anything is written, with a message that
names the offending parameter.
"""

import operator

import numpy as np

try:
    from numpy.exceptions import AxisError
except ImportError:  # NumPy < 1.25
    from numpy import AxisError

SUPPORTED_DTYPES = "float16, float32 and float64 (bool and integer input is computed in float64)"

_FLOAT_DTYPES = {np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)}
# Native-endian float32 and float64: computed as they are.
_NATIVE_COMPUTE = {np.dtype(np.float32), np.dtype(np.float64)}


def normalize_axes(axis, ndim):
    """Return ``axis`` as a sorted tuple of non-negative ints.

    None means every axis; an int or a tuple of ints may count from the end.
    Raises AxisError when an axis is out of range, ValueError on a repeated
    axis and TypeError on anything that is not an integer.
    """
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, kept cheap
        return (axis % ndim,)
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        items = axis
    else:
        items = (axis,)
    axes = []
    for item in items:
        if isinstance(item, (bool, np.bool_)):
            raise TypeError(f"'axis' must be an integer, a tuple of integers or None, got {axis!r}")
        try:
            index = operator.index(item)
        except TypeError:
            raise TypeError(
                f"'axis' must be an integer, a tuple of integers or None, got {axis!r}"
            ) from None
        if not -ndim <= index < ndim:
            raise AxisError(index, ndim)
        axes.append(index % ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in 'axis': {axis!r}")
    return tuple(sorted(axes))


def check_same_shape(y, dy):
    if y.shape != dy.shape:
        raise ValueError(
            f"'y' and 'dy' must have the same shape, got {y.shape} and {dy.shape}"
        )


def as_input_array(x, name):
    """``np.asarray(x)``, refusing arrays that live on a GPU."""
    # The Numba CUDA simulator's arrays have no __cuda_array_interface__.
    if not isinstance(x, np.ndarray) and (
        hasattr(x, "__cuda_array_interface__") or type(x).__name__ == "FakeCUDAArray"
    ):
        raise TypeError(
            f"'{name}' is a GPU device array; a CPU backend would have to copy it to the host. "
            "Pass backend='cuda' or copy it to the host yourself."
        )
    return np.asarray(x)


def result_dtype(in_dtype, dtype, name):
    """Return ``(result_dtype, compute_dtype)`` for an input of ``in_dtype``.

    float16 results are computed in float32.  ``dtype=`` overrides the result
    dtype but must itself be float16, float32 or float64.
    """
    if dtype is None and in_dtype in _NATIVE_COMPUTE:  # the common case, kept cheap
        return in_dtype, in_dtype
    if in_dtype.kind not in "biuf":
        raise TypeError(
            f"'{name}' has unsupported dtype {in_dtype}; fastsoft supports {SUPPORTED_DTYPES}"
        )
    if dtype is not None:
        try:
            result = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"'dtype' must be a NumPy floating dtype, got {dtype!r}") from None
        if result.newbyteorder("=") not in _FLOAT_DTYPES:
            raise TypeError(
                f"'dtype' must be float16, float32 or float64, got {result}"
            )
        result = result.newbyteorder("=")
    elif in_dtype.kind == "f":
        result = in_dtype.newbyteorder("=")
        if result not in _FLOAT_DTYPES:
            raise TypeError(
                f"'{name}' has unsupported dtype {in_dtype}; fastsoft supports {SUPPORTED_DTYPES}; "
                "pass dtype=np.float64 to compute in float64"
            )
    else:
        result = np.dtype(np.float64)
    compute = np.dtype(np.float32) if result == np.float16 else result
    return result, compute


def check_out(out, shape, dtype):
    """Validate a user ``out=`` array against the expected result."""
    if isinstance(out, tuple):
        if len(out) != 1:
            raise ValueError(
                f"'out' must be an array or a 1-tuple of one array, got a {len(out)}-tuple"
            )
        out = out[0]
    if not isinstance(out, np.ndarray):
        raise TypeError(f"'out' must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"'out' has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype.newbyteorder("=") != dtype:
        raise TypeError(f"'out' has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise ValueError("'out' is read-only")
    return out


def check_where(where, shape):
    """Return ``where`` as a boolean array broadcast to ``shape`` (a view)."""
    mask = np.asarray(where)
    if mask.dtype != np.bool_:
        raise TypeError(f"'where' must be a boolean array, got dtype {mask.dtype}")
    try:
        return np.broadcast_to(mask, shape)
    except ValueError:
        raise ValueError(
            f"'where' of shape {mask.shape} cannot be broadcast to the input's shape {tuple(shape)}"
        ) from None
