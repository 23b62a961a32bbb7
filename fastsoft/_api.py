"""The front door: validate and normalize input, then hand a backend plain blocks.

Every public function goes through :func:`_run`.  It turns array_like input
into C-contiguous blocks of float32 or float64 of shape ``(outer, n, inner)``
(the reduced group is the middle axis; ``inner == 1`` for the last axis,
``(size,)`` for element-wise functions), checks ``out=``/``where=``, and
only then calls the backend kernel.  Backends never see a list, a bad dtype,
a wrong axis or a strided array, and nothing is written before every check
has passed.

A CPU backend's kernel is called as ``kernel(*blocks, out, nthreads,
fresh=...)`` (softmax, log_softmax and logsumexp take a mask block, or None,
after their input); ``fresh`` tells whether ``out`` was allocated for the call
rather than given by the caller.
"""

import math

import numpy as np

from fastsoft import _config
from fastsoft._validate import (
    as_input_array,
    check_out,
    check_same_shape,
    check_where,
    normalize_axes,
    result_dtype,
)

__all__ = [
    "softmax",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "log_sigmoid",
    "softmax_backward",
    "log_softmax_backward",
    "sigmoid_backward",
]


class _Layout:
    """How an array of ``shape`` reduced over ``axes`` maps to an (outer, n, inner) block.

    ``perm`` orders the axes so that the reduced ones are adjacent; it follows
    the array's memory order (reversed for a Fortran-ordered array) so that a
    C- or F-contiguous input becomes a block without a copy.
    """

    __slots__ = ("perm", "axes", "block", "t_shape", "kept_t")

    def __init__(self, x, axes):
        fortran = x.ndim > 1 and x.flags.f_contiguous and not x.flags.c_contiguous
        if not fortran and (not axes or axes[-1] - axes[0] == len(axes) - 1):
            # The common case, kept cheap for small arrays: memory order, and
            # the reduced axes (if any) already adjacent.
            shape = x.shape
            first, last = (axes[0], axes[-1] + 1) if axes else (x.ndim, x.ndim)
            self.perm = tuple(range(x.ndim))
            self.axes = axes
            self.t_shape = shape
            self.block = (math.prod(shape[:first]), math.prod(shape[first:last]),
                          math.prod(shape[last:]))
            self.kept_t = self.perm[:first] + self.perm[last:]
            return
        order = list(range(x.ndim))
        if fortran:
            order.reverse()
        positions = sorted(order.index(a) for a in axes)
        if positions and positions != list(range(positions[0], positions[-1] + 1)):
            # Reduced axes are not adjacent in memory: gather them last (a copy).
            order = [a for a in order if a not in axes] + [a for a in order if a in axes]
            positions = list(range(x.ndim - len(axes), x.ndim))
        first = positions[0] if positions else x.ndim
        last = positions[-1] + 1 if positions else x.ndim
        dims = [x.shape[a] for a in order]
        self.perm = tuple(order)
        self.axes = axes
        self.t_shape = tuple(dims)
        self.block = (math.prod(dims[:first]), math.prod(dims[first:last]), math.prod(dims[last:]))
        self.kept_t = tuple(a for a in order if a not in axes)

    def input_block(self, a, compute):
        t = a.transpose(self.perm)
        if t.dtype != compute or not t.flags.c_contiguous:
            with np.errstate(all="ignore"):  # a cast may overflow float32: inf is the answer
                t = np.asarray(t, dtype=compute, order="C")
        return t.reshape(self.block)


def _inverse(perm):
    inverse = [0] * len(perm)
    for i, axis in enumerate(perm):
        inverse[axis] = i
    return inverse


def _unsafe_overlap(out_block, blocks):
    """True when ``out_block`` overlaps an input other than by being it exactly."""
    for b in blocks:
        if b is None or not np.may_share_memory(out_block, b):
            continue
        same = (
            b.__array_interface__["data"][0] == out_block.__array_interface__["data"][0]
            and b.shape == out_block.shape
            and b.dtype == out_block.dtype
        )
        if not same:
            return True
    return False


def _run(op, inputs, axes, *, out, result, compute, backend, where=None,
         reduce=False, keepdims=False):
    """Compute ``op`` over validated ``inputs`` (ndarrays of one shape)."""
    x = inputs[0]
    layout = _Layout(x, axes)
    outer, n, inner = layout.block

    if reduce:
        kept = tuple(a for a in range(x.ndim) if a not in axes)
        shape = tuple(1 if a in axes else x.shape[a] for a in range(x.ndim)) if keepdims \
            else tuple(x.shape[a] for a in kept)
        kernel_shape = (outer, inner)
    elif op in _ROW_OPS:
        shape, kernel_shape = x.shape, layout.block
    else:
        shape, kernel_shape = x.shape, (x.size,)

    mask = None if where is None else check_where(where, x.shape)
    if out is not None:
        out = check_out(out, shape, result)

    # All checks done: from here on, things get written.
    blocks = [layout.input_block(a, compute) for a in inputs]
    if op not in _ROW_OPS:
        blocks = [b.reshape(-1) for b in blocks]
    mask_block = None if mask is None else layout.input_block(mask, np.bool_)

    # The result seen in block order (``target_t``) and in user order (``user``).
    if reduce:
        kept_rank = {a: i for i, a in enumerate(kept)}
        t_rank = {a: i for i, a in enumerate(layout.kept_t)}
        if out is None:
            target_t = np.empty([x.shape[a] for a in layout.kept_t], dtype=result)
            user = target_t.transpose([t_rank[a] for a in kept])
            if keepdims:
                user = np.expand_dims(user, axes)
        else:
            user = out
            squeezed = np.squeeze(out, axis=axes) if keepdims else out
            target_t = squeezed.transpose([kept_rank[a] for a in layout.kept_t])
    elif out is None:
        target_t = np.empty(layout.t_shape, dtype=result)
        user = target_t.transpose(_inverse(layout.perm))
    else:
        user = out
        target_t = out.transpose(layout.perm)

    direct = target_t.dtype == compute and target_t.flags.c_contiguous
    if direct:
        kernel_out = target_t.reshape(kernel_shape)
        direct = not _unsafe_overlap(kernel_out, blocks + [mask_block])
    if not direct:
        kernel_out = np.empty(kernel_shape, compute)
    fresh = out is None or not direct  # kernel_out allocated here for this call

    if kernel_out.size:
        if n == 0:
            kernel_out.fill(-np.inf)  # logsumexp over an empty group
        else:
            kernel = getattr(_config.load_backend(backend), op)
            args = blocks + ([mask_block] if op in _MASKED_OPS else [])
            kernel(*args, kernel_out, _config.get_num_threads(), fresh=fresh)
    if not direct:
        with np.errstate(all="ignore"):
            np.copyto(target_t, kernel_out.reshape(target_t.shape), casting="unsafe")
    return user


_MASKED_OPS = frozenset({"softmax", "log_softmax", "logsumexp"})
_ROW_OPS = frozenset({"softmax", "log_softmax", "logsumexp", "softmax_backward",
                      "log_softmax_backward"})


def _is_device_array(a):
    """A GPU array (CuPy, Numba device array, torch CUDA tensor, ...)."""
    if isinstance(a, np.ndarray):
        return False
    # The Numba CUDA simulator's arrays lack __cuda_array_interface__.
    return hasattr(a, "__cuda_array_interface__") or type(a).__name__ == "FakeCUDAArray"


def _resolve_backend(backend, *inputs):
    if backend is None:
        if any(_is_device_array(a) for a in inputs):
            return _config.check_backend_name("cuda")
        return _config.default_backend()
    return _config.check_backend_name(backend)


def _inputs(backend, arrays, names):
    """Inputs as ndarrays, or as device arrays for the CUDA backend."""
    if backend == "cuda":
        cuda = _config.load_backend("cuda")
        return [cuda.as_device_input(a, name) for a, name in zip(arrays, names)]
    return [as_input_array(a, name) for a, name in zip(arrays, names)]


def _dispatch(op, inputs, axes, **kwargs):
    if kwargs["backend"] == "cuda":
        return _config.load_backend("cuda").run(op, inputs, axes, **kwargs)
    return _run(op, inputs, axes, **kwargs)


_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def _fast(op, inputs, axis, out, backend):
    """The common case in a few steps, or None to take the general way.

    Taken for NumPy input to a CPU backend (``backend`` None for the default,
    or named) with no ``where=`` or ``dtype=`` (the callers check those):
    non-empty C-contiguous ndarrays of one native float32 or float64 dtype and
    shape, row functions reduced over the last axis, and ``out=`` absent or an
    ndarray of the result's shape and dtype, C-contiguous, writeable, and
    either an input itself or not overlapping any.  Anything else, errors
    included, goes through :func:`_run`, which computes the same thing with
    more steps.  A backend with a ``whole`` function (the Cython one) takes
    the arrays as they are and checks their layout and overlap itself, in C;
    the others get blocks.  float32 (1, 10), out=, medians side by side, us:
    softmax 2.2 this way, 5.4 through blocks, 15 the general way (PyTorch
    2.5); sigmoid_backward 2.7, 8.8 and 29 (PyTorch 4.3).
    """
    x = inputs[0]
    dtype = x.dtype
    if (dtype is not _F32 and dtype is not _F64) or not x.size:
        return None
    shape = x.shape
    dy = None
    if len(inputs) == 2:
        dy = inputs[1]
        if dy.dtype is not dtype or dy.shape != shape:
            return None
    if op in _ROW_OPS:
        if type(axis) is not int or not shape or (axis != -1 and axis != len(shape) - 1):
            return None
        n = shape[-1]
        result_shape = shape[:-1] if op == "logsumexp" else shape
    else:
        n = 1
        result_shape = shape
    if out is not None and not (
        type(out) is np.ndarray and out.dtype is dtype and out.shape == result_shape
    ):
        return None
    if backend is None:
        kernels = _config.default_cpu_kernels()
    elif type(backend) is str and backend in _config.CPU_BACKENDS:
        kernels = _config.load_backend(backend)  # raises as _run would if unavailable
    else:
        kernels = None
    if kernels is None:
        return None
    whole = getattr(kernels, "whole", None)
    fresh = out is None
    if whole is None:
        return _fast_blocks(kernels, op, inputs, out, n, result_shape)
    if fresh:
        out = np.empty(result_shape, dtype)
    if whole(op, x, dy, out, n, _config.get_num_threads(), fresh):
        return out
    return None


def _fast_blocks(kernels, op, inputs, out, n, result_shape):
    """_fast's end for backends without ``whole``: layout and overlap checked
    here, the kernel given (outer, n, 1) blocks for row functions, 1-D ones
    for element-wise functions."""
    for a in inputs:
        if not a.flags.c_contiguous:
            return None
    if out is not None and not (
        out.flags.c_contiguous
        and out.flags.writeable
        and all(out is a or not np.may_share_memory(out, a) for a in inputs)
    ):
        return None
    x = inputs[0]
    if op in _ROW_OPS:
        block = (x.size // n, n, 1)
        out_block = (block[0], 1) if op == "logsumexp" else block
    else:
        block = out_block = (x.size,)
    fresh = out is None
    if fresh:
        out = np.empty(result_shape, x.dtype)
    blocks = [a.reshape(block) for a in inputs]
    if op in _MASKED_OPS:
        blocks.append(None)
    getattr(kernels, op)(*blocks, out.reshape(out_block), _config.get_num_threads(), fresh=fresh)
    return out


def _forward(op, x, axis, out, where, dtype, backend, keepdims=False):
    if where is None and dtype is None and not keepdims and type(x) is np.ndarray:
        result = _fast(op, (x,), axis, out, backend)
        if result is not None:
            return result
    backend = _resolve_backend(backend, x)
    (x,) = _inputs(backend, [x], ["x"])
    result, compute = result_dtype(x.dtype, dtype, "x")
    axes = normalize_axes(axis, x.ndim) if op in _ROW_OPS else ()
    return _dispatch(op, [x], axes, out=out, result=result, compute=compute, backend=backend,
                     where=where, reduce=(op == "logsumexp"), keepdims=keepdims)


def _backward(op, y, dy, axis, out, backend):
    if type(y) is np.ndarray and type(dy) is np.ndarray:
        result = _fast(op, (y, dy), axis, out, backend)
        if result is not None:
            return result
    backend = _resolve_backend(backend, y, dy)
    y, dy = _inputs(backend, [y, dy], ["y", "dy"])
    result_dtype(y.dtype, None, "y")
    result_dtype(dy.dtype, None, "dy")
    check_same_shape(y, dy)
    common = y.dtype if y.dtype == dy.dtype else np.result_type(y.dtype, dy.dtype)
    result, compute = result_dtype(common, None, "y")
    axes = normalize_axes(axis, y.ndim) if op in _ROW_OPS else ()
    return _dispatch(op, [y, dy], axes, out=out, result=result, compute=compute,
                     backend=backend)


def softmax(x, axis=-1, *, out=None, where=None, dtype=None, backend=None):
    """Softmax along an axis: ``exp(x - max) / sum(exp(x - max))``.

    Parameters
    ----------
    x : array_like
        Input values (logits).  float16, float32 and float64 keep their dtype
        (float16 is computed in float32); bool and integer input gives float64.
    axis : int, tuple of ints or None, optional
        Axis or axes over which the probabilities sum to 1.  A tuple is treated
        as one flattened axis; None means all elements.  Default -1 (note that
        SciPy's default is None).
    out : ndarray, optional
        Array of the result's shape and dtype to write into; may be ``x`` itself.
    where : array_like of bool, optional
        Mask broadcastable to ``x``.  Masked-out entries take no part in the max
        or the sum and get 0; a fully masked group gives all zeros.
    dtype : dtype, optional
        Result (and compute) dtype: float16, float32 or float64.
    backend : str, optional
        Backend name (see :func:`fastsoft.backends`); default: the fastest available
        CPU backend, or "cuda" for GPU device arrays.  "cuda" runs on the GPU:
        device arrays stay there and the result is the same kind of array; NumPy
        or other host input is copied to the device and the result copied back.

    Returns
    -------
    ndarray
        Probabilities, the shape of ``x``.  A group holding NaN or +inf, or only
        -inf, gives NaN.

    Examples
    --------
    >>> import fastsoft
    >>> fastsoft.softmax([1.6, 3.1, 0.5]).round(8)
    array([0.17198205, 0.77077009, 0.05724785])
    >>> fastsoft.softmax([[1000.0, 0.0], [-1000.0, -1000.0]])
    array([[1. , 0. ],
           [0.5, 0.5]])
    >>> fastsoft.softmax([1.0, 2.0, 3.0], where=[True, True, False]).round(4)
    array([0.2689, 0.7311, 0.    ])
    """
    return _forward("softmax", x, axis, out, where, dtype, backend)


def log_softmax(x, axis=-1, *, out=None, where=None, dtype=None, backend=None):
    """Logarithm of the softmax: ``x - max - log(sum(exp(x - max)))``.

    Parameters are those of :func:`softmax`; masked-out entries and fully
    masked groups get -inf.

    Returns
    -------
    ndarray
        Log-probabilities, the shape of ``x``.

    Examples
    --------
    >>> import fastsoft
    >>> fastsoft.log_softmax([0.0, -1e4])
    array([     0., -10000.])
    >>> fastsoft.log_softmax([[0.0, 0.0]], dtype="float32")
    array([[-0.6931472, -0.6931472]], dtype=float32)
    """
    return _forward("log_softmax", x, axis, out, where, dtype, backend)


def logsumexp(x, axis=-1, *, keepdims=False, where=None, out=None, dtype=None, backend=None):
    """``log(sum(exp(x)))`` along an axis, without overflow.

    Parameters
    ----------
    x, axis, where, dtype, backend
        As for :func:`softmax`.
    keepdims : bool, optional
        Keep the reduced axes as length-1 axes.
    out : ndarray, optional
        Array of the reduced shape and the result dtype to write into.

    Returns
    -------
    ndarray
        The reduced array.  An empty, all -inf or fully masked group gives -inf;
        a group holding +inf gives +inf; NaN gives NaN.

    Examples
    --------
    >>> import fastsoft
    >>> fastsoft.logsumexp([[1000.0, 1000.0], [0.0, -np.inf]]).round(6)
    array([1000.693147,    0.      ])
    >>> fastsoft.logsumexp(np.zeros((2, 0)))
    array([-inf, -inf])
    """
    return _forward("logsumexp", x, axis, out, where, dtype, backend, keepdims=bool(keepdims))


def sigmoid(x, *, out=None, dtype=None, backend=None):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, element-wise (also ``expit``).

    Computed as ``exp(x) / (1 + exp(x))`` for negative x, so small results keep
    full relative precision and nothing overflows.

    Parameters
    ----------
    x : array_like
        Input values.
    out, dtype, backend
        As for :func:`softmax`.

    Returns
    -------
    ndarray
        Values in [0, 1], the shape of ``x``.

    Examples
    --------
    >>> import fastsoft
    >>> fastsoft.sigmoid([-np.inf, -100.0, 0.0, 1000.0])
    array([0.00000000e+00, 3.72007598e-44, 5.00000000e-01, 1.00000000e+00])
    """
    return _forward("sigmoid", x, None, out, None, dtype, backend)


def log_sigmoid(x, *, out=None, dtype=None, backend=None):
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))``, element-wise (also ``log_expit``).

    Parameters
    ----------
    x : array_like
        Input values.
    out, dtype, backend
        As for :func:`softmax`.

    Returns
    -------
    ndarray
        Values <= 0, the shape of ``x``.

    Examples
    --------
    >>> import fastsoft
    >>> fastsoft.log_sigmoid([-100.0, -1.0, 0.0, 1.0])
    array([-100.        ,   -1.31326169,   -0.69314718,   -0.31326169])
    """
    return _forward("log_sigmoid", x, None, out, None, dtype, backend)


def softmax_backward(y, dy, axis=-1, *, out=None, backend=None):
    """Gradient of softmax with respect to its input: ``y * (dy - sum(dy * y))``.

    Parameters
    ----------
    y : array_like
        The forward result ``softmax(x, axis)``.
    dy : array_like
        The upstream gradient, the shape of ``y``.
    axis : int, tuple of ints or None, optional
        The axis the forward pass used.
    out, backend
        As for :func:`softmax`; ``out`` may be ``y`` or ``dy``.

    Returns
    -------
    ndarray
        The gradient, dtype NumPy's promotion of ``y`` and ``dy``.

    Examples
    --------
    >>> import fastsoft
    >>> y = fastsoft.softmax([0.0, 0.0])
    >>> fastsoft.softmax_backward(y, [1.0, 0.0])
    array([ 0.25, -0.25])
    """
    return _backward("softmax_backward", y, dy, axis, out, backend)


def log_softmax_backward(y, dy, axis=-1, *, out=None, backend=None):
    """Gradient of log_softmax with respect to its input: ``dy - exp(y) * sum(dy)``.

    Parameters
    ----------
    y : array_like
        The forward result ``log_softmax(x, axis)``.
    dy : array_like
        The upstream gradient, the shape of ``y``.
    axis, out, backend
        As for :func:`softmax_backward`.

    Returns
    -------
    ndarray
        The gradient.

    Examples
    --------
    >>> import fastsoft
    >>> y = fastsoft.log_softmax([0.0, 0.0])
    >>> fastsoft.log_softmax_backward(y, [1.0, 0.0])
    array([ 0.5, -0.5])
    """
    return _backward("log_softmax_backward", y, dy, axis, out, backend)


def sigmoid_backward(y, dy, *, out=None, backend=None):
    """Gradient of sigmoid with respect to its input: ``dy * y * (1 - y)``.

    Parameters
    ----------
    y : array_like
        The forward result ``sigmoid(x)``.
    dy : array_like
        The upstream gradient, the shape of ``y``.
    out, backend
        As for :func:`softmax_backward`.

    Returns
    -------
    ndarray
        The gradient.

    Examples
    --------
    >>> import fastsoft
    >>> fastsoft.sigmoid_backward([0.5], [1.0])
    array([0.25])
    """
    return _backward("sigmoid_backward", y, dy, None, out, backend)
