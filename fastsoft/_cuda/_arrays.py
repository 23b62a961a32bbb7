"""Device arrays: recognize them, view them with any strides, allocate, copy, hand back.

Everything here works on Numba device arrays (``DeviceNDArray``) or, under the
CUDA simulator, on ``FakeCUDAArray`` (a NumPy array in disguise, with no
``__cuda_array_interface__``).  Other device arrays (CuPy, PyTorch, ...) are
viewed as Numba device arrays through their ``__cuda_array_interface__``, without
a copy, and results are handed back as the caller's kind of array.
"""

import math

import numpy as np
from numba import cuda

from fastsoft._cuda import _kernels
from fastsoft._cuda._launch import ceil_div, get_launch_config, max_grid_blocks


def simulator_enabled():
    try:
        from numba.cuda.core import config
    except ImportError:  # older numba-cuda
        from numba.core import config
    return bool(config.ENABLE_CUDASIM)


SIMULATOR = simulator_enabled()


def is_fake(a):
    return type(a).__name__ == "FakeCUDAArray"


def is_device_array(a):
    return not isinstance(a, np.ndarray) and (
        hasattr(a, "__cuda_array_interface__") or is_fake(a)
    )


def kind_of(a):
    """'cupy', 'torch' or 'numba': what kind of array a result for ``a`` should be."""
    module = type(a).__module__ or ""
    if module.startswith("cupy"):
        return "cupy"
    if module.startswith("torch"):
        return "torch"
    return "numba"


def as_numba(a):
    """A Numba device array (or simulator array) viewing the memory of device array ``a``."""
    if getattr(a, "__cuda_ndarray__", False):  # Numba's own (or the simulator's) array
        return a
    return cuda.as_cuda_array(a)


def address(a):
    """Device address of element 0 (an integer), for views and overlap checks."""
    if is_fake(a):
        return a._ary.__array_interface__["data"][0]
    return a.__cuda_array_interface__["data"][0] or 0


def is_read_only(a):
    if is_fake(a):
        return not a._ary.flags.writeable
    return bool(a.__cuda_array_interface__["data"][1])


class _HostInterface:
    """Lets NumPy build a view with any strides at any address (simulator only)."""

    def __init__(self, interface, owner):
        self.__array_interface__ = interface
        self.owner = owner


def view(a, shape, strides, offset=0):
    """A view of device array ``a``: ``shape``, byte ``strides``, starting ``offset`` bytes on."""
    shape = tuple(int(s) for s in shape)
    strides = tuple(int(s) for s in strides)
    interface = {
        "shape": shape,
        "strides": strides,
        "typestr": a.dtype.str,
        "data": (address(a) + offset, False),
        "version": 3,
    }
    if is_fake(a):
        return type(a)(np.asarray(_HostInterface(interface, a._ary)))
    return cuda.from_cuda_array_interface(interface, owner=a)


def contiguous_strides(shape, itemsize):
    strides = []
    step = itemsize
    for size in reversed(shape):
        strides.append(step)
        step *= max(int(size), 1)
    return tuple(reversed(strides))


def extent(a):
    """[low, high) byte addresses a view touches."""
    low = high = address(a)
    for size, stride in zip(a.shape, a.strides):
        if size == 0:
            return low, low
        span = (size - 1) * stride
        if span < 0:
            low += span
        else:
            high += span
    return low, high + a.dtype.itemsize


def same_view(a, b):
    return (address(a) == address(b) and tuple(a.shape) == tuple(b.shape)
            and tuple(a.strides) == tuple(b.strides) and a.dtype == b.dtype)


def overlaps(a, b):
    (a0, a1), (b0, b1) = extent(a), extent(b)
    return a0 < b1 and b0 < a1


# --------------------------------------------------------------------------
# Allocation: pooled memory of the caller's library where there is one.


def empty(count, dtype, kind="numba"):
    """A 1-D contiguous device array of ``count`` elements (as a Numba device array)."""
    dtype = np.dtype(dtype)
    if kind == "cupy":
        import cupy

        return cuda.as_cuda_array(cupy.empty(count, dtype))
    return cuda.device_array(count, dtype)


def to_device(a):
    return cuda.to_device(np.require(a, requirements="C"))  # keeps 0-d arrays 0-d


def hand_back(a, kind):
    """Device array ``a`` (Numba) as the kind of array the caller passed in."""
    if kind == "cupy":
        import cupy

        return cupy.asarray(a)
    if kind == "torch":
        import torch

        return torch.as_tensor(a, device="cuda")
    return a


# --------------------------------------------------------------------------
# Copies between views of one shape (and possibly different dtypes) on the device.


def _merge_dims(shape, *strides_list):
    """Drop length-1 axes and merge axes that are contiguous in every strides tuple."""
    keep = [k for k, size in enumerate(shape) if size != 1]
    out_shape, out_strides = [], [[] for _ in strides_list]
    for k in keep:
        if out_shape and all(s[-1] == st[k] * shape[k] for s, st in zip(out_strides,
                                                                         strides_list)):
            out_shape[-1] *= shape[k]
            for s, st in zip(out_strides, strides_list):
                s[-1] = st[k]
            continue
        out_shape.append(shape[k])
        for s, st in zip(out_strides, strides_list):
            s.append(st[k])
    return out_shape, out_strides


def _launch_flat(kernel, total, *args):
    config = get_launch_config()
    tpb = config.threads_per_block
    blocks = max(1, min(ceil_div(total, tpb), max_grid_blocks(config)))
    kernel[blocks, tpb](*args)


def copy(src, dst):
    """dst[...] = src[...] (same shape, any strides, dtype converted) on the device."""
    shape, (s_strides, d_strides) = _merge_dims(tuple(src.shape), tuple(src.strides),
                                                tuple(dst.strides))
    if math.prod(shape) == 0:
        return
    if len(shape) > 4:  # rare: walk the leading axis from here
        for k in range(shape[0]):
            copy(view(src, shape[1:], s_strides[1:], k * s_strides[0]),
                 view(dst, shape[1:], d_strides[1:], k * d_strides[0]))
        return
    pad = 4 - len(shape)
    shape4 = (1,) * pad + tuple(shape)
    src4 = view(src, shape4, (0,) * pad + tuple(s_strides))
    dst4 = view(dst, shape4, (0,) * pad + tuple(d_strides))
    _launch_flat(_kernels.copy4, math.prod(shape), src4, dst4)


def fill(dst, value):
    shape, (strides,) = _merge_dims(tuple(dst.shape), tuple(dst.strides))
    if math.prod(shape) == 0:
        return
    if len(shape) > 4:
        for k in range(shape[0]):
            fill(view(dst, shape[1:], strides[1:], k * strides[0]), value)
        return
    pad = 4 - len(shape)
    dst4 = view(dst, (1,) * pad + tuple(shape), (0,) * pad + tuple(strides))
    _launch_flat(_kernels.fill4, math.prod(shape), dst4, dst.dtype.type(value))
