"""One registry of comparisons: what ``python -m fastsoft bench`` and ``benchmarks/`` time.

``COMPARISONS[function][implementation]`` is a *setup*: given the :class:`Inputs`
of a :class:`Case`, it returns a zero-argument callable that runs that
implementation once on those inputs.  The CLI benchmark and the
pytest-benchmark suite both read this table, so they time the same calls under
the same names and cannot drift apart.

Implementations:

``fastsoft``
    the public function with the default backend (``backend=None``).
``fastsoft[<backend>]``
    the same, forcing one CPU backend (``fastsoft[cython]``, ``fastsoft[numba]``).
``reference``
    :mod:`fastsoft.reference` (plain NumPy, float64 inside).
``scipy``
    ``scipy.special`` (softmax, log_softmax, logsumexp, expit, log_expit); the
    backward passes, which SciPy does not have, as the plain NumPy expression.
``torch``
    PyTorch on the CPU, on tensors that share the NumPy arrays' memory.
``copy``
    the floor: ``x.copy()`` (``np.copyto`` into an existing array with ``out=``),
    the least any function returning a new array must do.  Backward passes read
    two arrays, so their floor is :data:`FLOOR_SCALE` (1.5) times that time.

A setup raises :class:`Unavailable` when its library is missing or it cannot
do the case (``fastsoft.reference`` has no ``out=``); callers skip it.  SciPy
and PyTorch are imported only inside a setup, never by ``import fastsoft``.

>>> case = Case("softmax", (4, 3), "float32")
>>> case.group
'softmax|(4, 3)|float32'
>>> run = COMPARISONS["softmax"]["fastsoft"](make_inputs(case))
>>> run().shape
(4, 3)
"""

import functools
import importlib.util
import math
from dataclasses import dataclass, field

import numpy as np

import fastsoft
from fastsoft import _config, reference
from fastsoft._validate import normalize_axes

__all__ = [
    "FUNCTIONS",
    "FORWARD",
    "BACKWARD",
    "ELEMENTWISE",
    "IMPLEMENTATIONS",
    "FLOOR",
    "FLOOR_SCALE",
    "COMPARISONS",
    "Case",
    "Inputs",
    "Unavailable",
    "make_inputs",
    "make_cases",
]

FORWARD = ("softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid")
# Each backward pass, and the forward function whose output ``y`` it takes.
BACKWARD = {
    "softmax_backward": "softmax",
    "log_softmax_backward": "log_softmax",
    "sigmoid_backward": "sigmoid",
}
FUNCTIONS = FORWARD + tuple(BACKWARD)
# Functions without an ``axis``: the shape is all that matters.
ELEMENTWISE = frozenset({"sigmoid", "log_sigmoid", "sigmoid_backward"})

FLOOR = "copy"
# The floor is one copy of the input; backward passes read two arrays and write
# one, 1.5x the bytes of a copy.
FLOOR_SCALE = {name: (1.5 if name in BACKWARD else 1.0) for name in FUNCTIONS}


class Unavailable(Exception):
    """This implementation cannot run here (library missing) or cannot do this case."""


@dataclass(frozen=True)
class Case:
    """One benchmark case: a function on a random array of ``shape`` and ``dtype``.

    ``axis`` is ignored (normalized to -1) for element-wise functions.  With
    ``out=True`` every implementation writes into a preallocated result.
    """

    function: str
    shape: tuple
    dtype: str
    axis: object = -1
    out: bool = False

    def __post_init__(self):
        if self.function not in FUNCTIONS:
            raise ValueError(f"unknown function {self.function!r}; known: {', '.join(FUNCTIONS)}")
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        object.__setattr__(self, "dtype", np.dtype(self.dtype).name)
        if self.function in ELEMENTWISE:
            object.__setattr__(self, "axis", -1)

    @property
    def is_backward(self):
        return self.function in BACKWARD

    @property
    def shape_label(self):
        """``(1000, 1000)``, with `` axis=0`` when the axis is not the last one."""
        label = str(self.shape)
        if self.axis not in (-1, len(self.shape) - 1):
            label += f" axis={self.axis}"
        return label

    @property
    def group(self):
        """The pytest-benchmark group: ``function|shape|dtype`` (``|out`` with ``out=``)."""
        group = f"{self.function}|{self.shape_label}|{self.dtype}"
        return group + "|out" if self.out else group

    @property
    def id(self):
        """A test id without spaces: ``softmax-1000x1000-axis0-float32``."""
        parts = [self.function, "x".join(map(str, self.shape))]
        if self.axis not in (-1, len(self.shape) - 1):
            axis = "".join(c for c in str(self.axis) if c.isalnum() or c == "-")
            parts.append(f"axis{axis}")
        parts.append(self.dtype)
        if self.out:
            parts.append("out")
        return "-".join(parts)

    @property
    def nbytes(self):
        """Bytes of one input array."""
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    @property
    def result_shape(self):
        if self.function != "logsumexp":
            return self.shape
        axes = normalize_axes(self.axis, len(self.shape))
        return tuple(n for i, n in enumerate(self.shape) if i not in axes)


@dataclass(frozen=True, eq=False)
class Inputs:
    """The arrays of a case: ``(x,)`` for forward functions, ``(y, dy)`` for backward ones.

    ``out`` is a preallocated result when ``case.out``, else None.
    """

    case: Case
    arrays: tuple
    out: object = field(default=None)


def make_inputs(case, seed=0):
    """Random inputs for ``case``, C-contiguous, of ``case.dtype``.

    Forward functions get logits ``x`` (standard normal times 3).  Backward
    passes get ``y``, the forward function's output on such logits, and an
    upstream gradient ``dy`` (standard normal).
    """
    rng = np.random.default_rng(seed)
    dtype = np.dtype(case.dtype)
    x = (3.0 * rng.standard_normal(case.shape)).astype(dtype)
    if case.is_backward:
        forward = getattr(reference, BACKWARD[case.function])
        kwargs = {} if case.function in ELEMENTWISE else {"axis": case.axis}
        y = forward(x, **kwargs).astype(dtype)
        dy = rng.standard_normal(case.shape).astype(dtype)
        arrays = (y, dy)
    else:
        arrays = (x,)
    out = np.empty(case.result_shape, dtype) if case.out else None
    return Inputs(case, arrays, out)


def make_cases(functions=FUNCTIONS, shapes=(((1000, 1000), -1),), dtypes=("float32", "float64"),
               outs=(False,)):
    """Every combination, in order, without duplicates.

    ``shapes`` holds ``(shape, axis)`` pairs; element-wise functions ignore the
    axis, so a pair differing only by axis is given once for them.
    """
    cases = {}
    for function in functions:
        for shape, axis in shapes:
            for dtype in dtypes:
                for out in outs:
                    case = Case(function, shape, dtype, axis, out)
                    cases.setdefault(case, None)
    return list(cases)


# --------------------------------------------------------------------------
# The implementations.  Each ``_setup_*`` returns a setup for one function.

def _axis_kwargs(case):
    return {} if case.function in ELEMENTWISE else {"axis": case.axis}


def _setup_fastsoft(function, backend):
    def setup(inputs):
        if backend is not None:
            reason = _config.unavailable_reason(backend)
            if reason is not None:
                raise Unavailable(f"fastsoft backend {backend!r}: {reason}")
        kwargs = _axis_kwargs(inputs.case)
        if backend is not None:
            kwargs["backend"] = backend
        if inputs.out is not None:
            kwargs["out"] = inputs.out
        return functools.partial(getattr(fastsoft, function), *inputs.arrays, **kwargs)

    return setup


def _setup_reference(function):
    def setup(inputs):
        if inputs.out is not None:
            raise Unavailable("fastsoft.reference has no out=")
        return functools.partial(getattr(reference, function), *inputs.arrays,
                                 **_axis_kwargs(inputs.case))

    return setup


def _numpy_backward(function, axis, out):
    """The backward passes as NumPy expressions (SciPy has none)."""
    if function == "softmax_backward":
        def run(y, dy):
            return np.multiply(y, dy - np.sum(dy * y, axis=axis, keepdims=True), out=out)
    elif function == "log_softmax_backward":
        def run(y, dy):
            return np.subtract(dy, np.exp(y) * np.sum(dy, axis=axis, keepdims=True), out=out)
    else:
        def run(y, dy):
            return np.multiply(dy * y, 1.0 - y, out=out)
    return run


def _setup_scipy(function):
    def setup(inputs):
        case = inputs.case
        if function in BACKWARD:
            return functools.partial(_numpy_backward(function, case.axis, inputs.out),
                                     *inputs.arrays)
        try:
            import scipy.special as special
        except ImportError:
            raise Unavailable("SciPy is not installed") from None
        (x,) = inputs.arrays
        if function in ("sigmoid", "log_sigmoid"):  # ufuncs: they take out=
            ufunc = special.expit if function == "sigmoid" else special.log_expit
            if inputs.out is None:
                return functools.partial(ufunc, x)
            return functools.partial(ufunc, x, out=inputs.out)
        if inputs.out is not None:
            raise Unavailable(f"scipy.special.{function} has no out=")
        return functools.partial(getattr(special, function), x, axis=case.axis)

    return setup


def _torch_call(torch, function, tensors, dim, out):
    """A zero-argument callable running ``function`` in PyTorch (``out``: a tensor or None)."""
    aten = torch.ops.aten
    if function in BACKWARD:
        y, dy = tensors
        if function == "sigmoid_backward":
            if out is None:
                return functools.partial(aten.sigmoid_backward, dy, y)
            return functools.partial(aten.sigmoid_backward.grad_input, dy, y, grad_input=out)
        if function == "softmax_backward":
            if out is None:
                return functools.partial(torch._softmax_backward_data, dy, y, dim, y.dtype)
            return functools.partial(aten._softmax_backward_data.out, dy, y, dim, y.dtype,
                                     grad_input=out)
        if out is None:
            return functools.partial(torch._log_softmax_backward_data, dy, y, dim, y.dtype)
        return functools.partial(aten._log_softmax_backward_data.out, dy, y, dim, y.dtype,
                                 out=out)
    (x,) = tensors
    if function == "softmax":
        if out is None:
            return functools.partial(torch.softmax, x, dim)
        return functools.partial(aten._softmax.out, x, dim, False, out=out)
    if function == "log_softmax":
        if out is None:
            return functools.partial(torch.log_softmax, x, dim)
        return functools.partial(aten._log_softmax.out, x, dim, False, out=out)
    if function == "logsumexp":
        if out is None:
            return functools.partial(torch.logsumexp, x, dim)
        return functools.partial(torch.logsumexp, x, dim, out=out)
    if function == "sigmoid":
        if out is None:
            return functools.partial(torch.sigmoid, x)
        return functools.partial(torch.sigmoid, x, out=out)
    if out is None:
        return functools.partial(torch.nn.functional.logsigmoid, x)
    return functools.partial(aten.log_sigmoid.out, x, out=out)


def _setup_torch(function):
    def setup(inputs):
        if importlib.util.find_spec("torch") is None:
            raise Unavailable("PyTorch is not installed")
        import torch

        case = inputs.case
        dim = case.axis
        if function not in ELEMENTWISE and not isinstance(dim, int):
            if not (function == "logsumexp" and isinstance(dim, tuple)):
                raise Unavailable(f"torch.{function} takes one int dim, not axis={dim!r}")
        tensors = [torch.from_numpy(a) for a in inputs.arrays]
        out = None if inputs.out is None else torch.from_numpy(inputs.out)
        return _torch_call(torch, function, tensors, dim, out)

    return setup


def _setup_copy(function):
    def setup(inputs):
        src = inputs.arrays[0]
        if inputs.out is None:
            return src.copy
        # logsumexp's out is the reduced shape; the floor always moves a whole input.
        dst = np.empty_like(src)
        return functools.partial(np.copyto, dst, src)

    return setup


def _implementations():
    """Implementation names, in the order tables show them."""
    names = ["fastsoft"]
    names += [f"fastsoft[{backend}]" for backend in _config.CPU_BACKENDS]
    names += ["reference", "scipy", "torch", FLOOR]
    return tuple(names)


IMPLEMENTATIONS = _implementations()


def _comparisons():
    table = {}
    for function in FUNCTIONS:
        row = {"fastsoft": _setup_fastsoft(function, None)}
        for backend in _config.CPU_BACKENDS:
            row[f"fastsoft[{backend}]"] = _setup_fastsoft(function, backend)
        row["reference"] = _setup_reference(function)
        row["scipy"] = _setup_scipy(function)
        row["torch"] = _setup_torch(function)
        row[FLOOR] = _setup_copy(function)
        table[function] = row
    return table


COMPARISONS = _comparisons()
