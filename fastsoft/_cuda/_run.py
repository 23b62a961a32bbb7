"""The CUDA backend's half of the front door: checks, layout, launches, results.

``fastsoft._api`` resolves the backend, the dtypes and the axes; :func:`run`
gets inputs that are :class:`DeviceInput` (device arrays, used where they
lie) or ndarrays (host input, copied to the device), checks ``out=`` and
``where=``, maps every operand to an ``(outer, n, inner)`` view without copying
when its strides allow it, launches the kernels and returns the caller's kind
of array.
"""

import contextlib
import math
import threading

import numpy as np
from numba import cuda

from fastsoft._cuda import _arrays
from fastsoft._cuda import _kernels as k
from fastsoft._cuda._launch import (
    ceil_div,
    get_launch_config,
    max_grid_blocks,
    next_pow2,
    target_blocks,
)
from fastsoft._validate import check_out as check_host_out
from fastsoft._validate import check_where as check_host_where

ROW_OPS = frozenset({"softmax", "log_softmax", "logsumexp", "softmax_backward",
                     "log_softmax_backward"})
_FORWARD = {"softmax": k.SOFTMAX, "log_softmax": k.LOG_SOFTMAX, "logsumexp": k.LOGSUMEXP}
_BACKWARD = {"softmax_backward": k.SOFTMAX_BACKWARD,
             "log_softmax_backward": k.LOG_SOFTMAX_BACKWARD}
_UNARY = {"sigmoid": k.SIGMOID, "log_sigmoid": k.LOG_SIGMOID}

# The simulator runs one kernel at a time (it asserts so); a GPU needs no lock.
_simulator_lock = threading.Lock()


class DeviceInput:
    """A device array given to the backend: a Numba view of it, and the kind to return."""

    __slots__ = ("array", "kind")

    def __init__(self, array, kind):
        self.array = array
        self.kind = kind

    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def dtype(self):
        return np.dtype(self.array.dtype)

    @property
    def ndim(self):
        return len(self.array.shape)


def as_device_input(a, name):
    """A device array as a DeviceInput (no copy); anything else as an ndarray.

    Host input stays on the host until :func:`run` has checked every argument,
    then goes to the device once, in the compute dtype.
    """
    del name  # every check that names the argument happens in the front door
    if isinstance(a, DeviceInput):
        return a
    if _arrays.is_device_array(a):
        return DeviceInput(_arrays.as_numba(a), _arrays.kind_of(a))
    return np.asarray(a)


# --------------------------------------------------------------------------
# Checks (the messages of fastsoft._validate, for device arrays too).


def _broadcastable(mask_shape, shape):
    if len(mask_shape) > len(shape):
        return False
    return all(m == s or m == 1 for m, s in zip(mask_shape[::-1], shape[::-1]))


def check_where(where, shape):
    """A device mask (Numba view) or a host ndarray, not yet broadcast."""
    if _arrays.is_device_array(where):
        mask = _arrays.as_numba(where)
        if np.dtype(mask.dtype) != np.bool_:
            raise TypeError(f"'where' must be a boolean array, got dtype {np.dtype(mask.dtype)}")
        if not _broadcastable(tuple(mask.shape), shape):
            raise ValueError(
                f"'where' of shape {tuple(mask.shape)} cannot be broadcast to the input's "
                f"shape {tuple(shape)}"
            )
        return mask
    check_host_where(where, shape)
    return np.asarray(where)


def check_out(out, shape, dtype, host):
    """Return (the array to give back, its Numba view or the ndarray itself)."""
    if isinstance(out, tuple):
        if len(out) != 1:
            raise ValueError(
                f"'out' must be an array or a 1-tuple of one array, got a {len(out)}-tuple"
            )
        out = out[0]
    if isinstance(out, np.ndarray):
        if not host:
            raise TypeError(
                "'out' must be a device array when the input is on the GPU, got numpy.ndarray"
            )
        return out, check_host_out(out, shape, dtype)
    if not _arrays.is_device_array(out):
        raise TypeError(
            f"'out' must be a device array or a numpy.ndarray, got {type(out).__name__}"
        )
    view = _arrays.as_numba(out)
    if tuple(view.shape) != tuple(shape):
        raise ValueError(f"'out' has shape {tuple(view.shape)}, expected {tuple(shape)}")
    if np.dtype(view.dtype).newbyteorder("=") != dtype:
        raise TypeError(f"'out' has dtype {np.dtype(view.dtype)}, expected {dtype}")
    if _arrays.is_read_only(view):
        raise ValueError("'out' is read-only")
    return out, view


# --------------------------------------------------------------------------
# Layout: every operand is described by its strides on the input's axes.


def block_order(shape, strides, axes):
    """The input's axes (length-1 ones left out) from the largest stride to the smallest.

    The reduced axes must be adjacent in it; when memory order has them apart,
    they go last (and the operands are then copied into that order).
    """
    order = sorted((a for a in range(len(shape)) if shape[a] != 1),
                   key=lambda a: -abs(strides[a]))
    reduced = [a for a in order if a in axes]
    positions = [order.index(a) for a in reduced]
    if positions and positions[-1] - positions[0] + 1 != len(positions):
        order = [a for a in order if a not in axes] + reduced
    return order


def row_groups(order, axes):
    """[outer axes, reduced axes, inner axes] in block order."""
    positions = [p for p, a in enumerate(order) if a in axes]
    if not positions:
        return [list(order), [], []]
    first, last = positions[0], positions[-1] + 1
    return [order[:first], order[first:last], order[last:]]


def strides_in_order(shape, order, itemsize):
    """Strides on the input's axes of a contiguous array laid out in ``order``."""
    if list(order) == sorted(order):
        return _arrays.contiguous_strides(shape, itemsize)
    strides = [itemsize] * len(shape)
    step = itemsize
    for a in reversed(order):
        strides[a] = step
        step *= shape[a]
    return tuple(strides)


def block_view(a, strides, shape, groups):
    """A view of ``a`` with one axis per group, or None when a group's axes do not merge."""
    sizes, block_strides = [], []
    for group in groups:
        for p, q in zip(group[:-1], group[1:]):
            if strides[p] != strides[q] * shape[q]:
                return None
        sizes.append(math.prod(shape[a] for a in group))
        block_strides.append(strides[group[-1]] if group else None)
    # Length-1 axes get the stride that keeps a contiguous block contiguous.
    step = a.dtype.itemsize
    for i in reversed(range(len(sizes))):
        if block_strides[i] is None:
            block_strides[i] = step
        step = block_strides[i] * sizes[i]
    return _arrays.view(a, sizes, block_strides)


def contiguous_copy(a, strides, shape, order, dtype):
    """``a`` copied (and converted to ``dtype``) into a new array laid out in ``order``."""
    dtype = np.dtype(dtype)
    buffer = _arrays.empty(math.prod(shape), dtype)
    t_shape = [shape[i] for i in order]
    src = _arrays.view(a, t_shape, [strides[i] for i in order])
    dst = _arrays.view(buffer, t_shape, _arrays.contiguous_strides(t_shape, dtype.itemsize))
    _arrays.copy(src, dst)
    return buffer, strides_in_order(shape, order, dtype.itemsize)


def as_block(a, strides, shape, order, groups, dtype):
    """A block view of ``a`` in ``dtype``: a view when possible, else a contiguous copy."""
    if np.dtype(a.dtype) == dtype:
        view = block_view(a, strides, shape, groups)
        if view is not None:
            return view
    buffer, buffer_strides = contiguous_copy(a, strides, shape, order, dtype)
    return block_view(buffer, buffer_strides, shape, groups)


def broadcast_strides(mask_shape, mask_strides, shape):
    pad = len(shape) - len(mask_shape)
    return (0,) * pad + tuple(
        0 if (m == 1 and s != 1) else st
        for m, st, s in zip(mask_shape, mask_strides, shape[pad:])
    )


# --------------------------------------------------------------------------
# Launches.

_dummies = {}


def _dummy(name, shape, dtype):
    """Placeholder arrays for arguments a launch does not use (typed like the real ones)."""
    array = _dummies.get(name)
    if array is None:
        array = _dummies[name] = cuda.device_array(shape, dtype)
    return array


def _grid(tasks, config):
    return max(1, min(tasks, max_grid_blocks(config)))


def _chunks(tiles, n, work, config):
    """Blocks each row (or column tile) is split into; 1 when the tiles fill the device."""
    target = target_blocks(config)
    if tiles >= target:
        return 1
    return max(1, min(work // config.split_min_chunk, ceil_div(target, tiles), n))


def _row_geometry(shape, config):
    """How an (outer, n, inner) block is launched.

    Returns (kernel family, block shape, tiles, units, chunks, chunk length):
    "rows" (last axis) or "cols", the 2-D block, the row or column tiles, the
    rows or columns (units of the split statistics), and the split of each.
    """
    outer, n, inner = shape
    tpb = config.threads_per_block
    if inner == 1:
        threads_per_row = min(next_pow2(ceil_div(n, config.elements_per_thread)), tpb)
        rows_per_block = tpb // threads_per_row
        tiles = ceil_div(outer, rows_per_block)
        chunks = _chunks(tiles, n, n, config) if rows_per_block == 1 else 1
        block, units, family = (threads_per_row, rows_per_block), outer, "rows"
    else:
        columns = min(next_pow2(inner), config.max_columns_per_block, tpb)
        lanes = tpb // columns
        tiles = outer * ceil_div(inner, columns)
        chunks = _chunks(tiles, n, columns * n, config)
        block, units, family = (columns, lanes), outer * inner, "cols"
    chunk_len = ceil_div(n, chunks)
    chunks = ceil_div(n, chunk_len)
    return family, block, tiles, units, chunks, chunk_len


def launch_forward(code, x, mask, out, dtype):
    """softmax / log_softmax (out: (outer, n, inner)) or logsumexp (out: (outer, 1, inner))."""
    config = get_launch_config()
    kernels = k.kernels(dtype)
    family, block, tiles, units, chunks, chunk_len = _row_geometry(tuple(x.shape), config)
    kernel = kernels.rows_forward if family == "rows" else kernels.cols_forward
    n = x.shape[1]
    has_mask = mask is not None
    if not has_mask:
        mask = _dummy("mask", (1, 1, 1), np.bool_)
    shared = 3 * block[0] * block[1] * 8
    if chunks == 1:
        part = _dummy("forward_part", (3, 1, 1), np.float64)
        kernel[_grid(tiles, config), block, 0, shared](
            code, k.WHOLE, x, mask, has_mask, out, part, n, 1, 0)
        return
    # Online normalizer across blocks: chunk statistics, then combine and write.
    part = cuda.device_array((3, units, chunks), np.float64)
    kernel[_grid(tiles * chunks, config), block, 0, shared](
        code, k.PARTIAL, x, mask, has_mask, out, part, chunk_len, chunks, chunks)
    if code == k.LOGSUMEXP:
        kernel[_grid(tiles, config), block, 0, shared](
            code, k.FINAL, x, mask, has_mask, out, part, n, 1, chunks)
    else:
        kernel[_grid(tiles * chunks, config), block, 0, shared](
            code, k.FINAL, x, mask, has_mask, out, part, chunk_len, chunks, chunks)


def launch_backward(code, y, dy, out, dtype):
    config = get_launch_config()
    kernels = k.kernels(dtype)
    family, block, tiles, units, chunks, chunk_len = _row_geometry(tuple(y.shape), config)
    kernel = kernels.rows_backward if family == "rows" else kernels.cols_backward
    shared = block[0] * block[1] * 8
    if chunks == 1:
        part = _dummy("backward_part", (1, 1, 1), np.float64)
        kernel[_grid(tiles, config), block, 0, shared](
            code, k.WHOLE, y, dy, out, part, y.shape[1], 1, 0)
        return
    part = cuda.device_array((1, units, chunks), np.float64)
    kernel[_grid(tiles * chunks, config), block, 0, shared](
        code, k.PARTIAL, y, dy, out, part, chunk_len, chunks, chunks)
    kernel[_grid(tiles * chunks, config), block, 0, shared](
        code, k.FINAL, y, dy, out, part, chunk_len, chunks, chunks)


def launch_elementwise(op, inputs, out, dtype):
    config = get_launch_config()
    kernels = k.kernels(dtype)
    tpb = config.threads_per_block
    blocks = _grid(ceil_div(out.shape[0], tpb), config)
    if op == "sigmoid_backward":
        kernels.sigmoid_backward[blocks, tpb](inputs[0], inputs[1], out)
    else:
        kernels.unary[blocks, tpb](_UNARY[op], inputs[0], out)


# --------------------------------------------------------------------------
# run()


@contextlib.contextmanager
def _serialized():
    if _arrays.SIMULATOR:
        with _simulator_lock:
            yield
    else:
        yield


def run(op, inputs, axes, *, out, result, compute, backend, where=None, reduce=False,
        keepdims=False):
    """Compute ``op`` on the GPU; see the module docstring."""
    del backend
    result, compute = np.dtype(result), np.dtype(compute)
    device_inputs = [a for a in inputs if isinstance(a, DeviceInput)]
    host = not device_inputs
    kind = "host" if host else device_inputs[0].kind
    shape = tuple(inputs[0].shape)
    kept = tuple(a for a in range(len(shape)) if a not in axes)
    if reduce:
        out_shape = (tuple(1 if a in axes else shape[a] for a in range(len(shape))) if keepdims
                     else tuple(shape[a] for a in kept))
    else:
        out_shape = shape

    mask = None if where is None else check_where(where, shape)
    target = None if out is None else check_out(out, out_shape, result, host)

    # All checks done: from here on, things get written.
    with _serialized():
        return _compute(op, inputs, axes, shape, out_shape, kept, reduce, keepdims, kind,
                        mask, target, result, compute)


def _compute(op, inputs, axes, shape, out_shape, kept, reduce, keepdims, kind, mask, target,
             result, compute):
    if math.prod(out_shape) == 0:
        if target is not None:
            return target[0]
        if kind == "host":
            return np.empty(out_shape, result)
        return _arrays.hand_back(cuda.device_array(out_shape, result), kind)

    arrays = []
    for a in inputs:
        if isinstance(a, DeviceInput):
            arrays.append(a.array)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                arrays.append(_arrays.to_device(np.asarray(a, dtype=compute)))
    x = arrays[0]
    order = block_order(shape, tuple(x.strides), axes)
    row_op = op in ROW_OPS
    groups = row_groups(order, axes) if row_op else [order]
    blocks = [as_block(a, tuple(a.strides), shape, order, groups, compute) for a in arrays]

    mask_block = None
    if mask is not None:
        if isinstance(mask, np.ndarray):
            mask = _arrays.to_device(mask.reshape((1,) * (len(shape) - mask.ndim) + mask.shape))
        strides = broadcast_strides(tuple(mask.shape), tuple(mask.strides), shape)
        broadcast = _arrays.view(mask, shape, strides)
        mask_block = as_block(broadcast, strides, shape, order, groups, np.dtype(np.bool_))

    # The output on the input's axes: reduced axes have length 1 and no stride of their own.
    out_groups = [groups[0], [], groups[2]] if reduce else groups
    out_order = [a for a in order if a not in axes] if reduce else order
    full_shape = tuple(1 if reduce and a in axes else shape[a] for a in range(len(shape)))
    squeeze = reduce and not keepdims

    def on_input_axes(user_strides):
        if not squeeze:
            return tuple(user_strides)
        strides = [0] * len(shape)
        for a, stride in zip(kept, user_strides):
            strides[a] = stride
        return tuple(strides)

    def on_user_axes(strides):
        return [strides[a] for a in kept] if squeeze else list(strides)

    def fresh(dtype, allocate_kind="numba"):
        """A new output laid out in block order: (buffer, strides on the input's axes)."""
        buffer = _arrays.empty(math.prod(out_shape), dtype, allocate_kind)
        return buffer, strides_in_order(full_shape, out_order, np.dtype(dtype).itemsize)

    def ordered(buffer, strides):
        """``buffer`` as an array of the output's axes in block order."""
        return _arrays.view(buffer, [shape[a] for a in out_order], [strides[a] for a in out_order])

    if target is not None and not isinstance(target[1], np.ndarray):
        # A device out=: written directly when it is a block view, else through a buffer.
        given, view = target
        strides = on_input_axes(view.strides)
        kernel_out = None
        if np.dtype(view.dtype) == compute:
            kernel_out = block_view(view, strides, shape, out_groups)
            if kernel_out is not None and _unsafe_overlap(kernel_out, blocks + [mask_block]):
                kernel_out = None
        if kernel_out is None:
            buffer, buffer_strides = fresh(compute)
            kernel_out = block_view(buffer, buffer_strides, shape, out_groups)

            def finish():
                _arrays.copy(ordered(buffer, buffer_strides), ordered(view, strides))
                return given
        else:
            def finish():
                return given
    elif kind != "host" and target is None:
        # A new device array of the caller's kind, in the input's memory order.
        buffer, buffer_strides = fresh(result, kind if kind == "cupy" else "numba")
        user = _arrays.view(buffer, out_shape, on_user_axes(buffer_strides))
        given = _arrays.hand_back(user, kind)
        if result == compute:
            kernel_out = block_view(buffer, buffer_strides, shape, out_groups)

            def finish():
                return given
        else:  # float16: computed in float32, converted on the device
            temp, temp_strides = fresh(compute)
            kernel_out = block_view(temp, temp_strides, shape, out_groups)

            def finish():
                _arrays.copy(ordered(temp, temp_strides), ordered(buffer, buffer_strides))
                return given
    else:
        # A host result (NumPy input, or a NumPy out=): computed on the device, copied back once.
        buffer, buffer_strides = fresh(compute)
        kernel_out = block_view(buffer, buffer_strides, shape, out_groups)
        host_out = None if target is None else target[1]

        def finish():
            flat = buffer.copy_to_host()
            values = np.lib.stride_tricks.as_strided(flat, out_shape,
                                                     on_user_axes(buffer_strides))
            with np.errstate(over="ignore", invalid="ignore"):
                if host_out is not None:
                    np.copyto(host_out, values, casting="unsafe")
                    return target[0]
                return values if result == compute else values.astype(result)

    _launch(op, blocks, mask_block, kernel_out, compute)
    return finish()


def _unsafe_overlap(out, blocks):
    """True when ``out`` overlaps an input other than by being exactly it."""
    return any(b is not None and _arrays.overlaps(out, b) and not _arrays.same_view(out, b)
               for b in blocks)


def _launch(op, blocks, mask, out, compute):
    if op in _FORWARD:
        x = blocks[0]
        if x.shape[1] == 0:  # logsumexp over an empty group
            _arrays.fill(out, -np.inf)
        else:
            launch_forward(_FORWARD[op], x, mask, out, compute)
    elif op in _BACKWARD:
        launch_backward(_BACKWARD[op], blocks[0], blocks[1], out, compute)
    else:
        launch_elementwise(op, blocks, out, compute)
