"""Every documented error: its exception type and a message naming the parameter."""

import re

import numpy as np
import pytest

import fastsoft
from tests.util import BACKWARD, ELEMENTWISE, FORWARD, FUNCTIONS, call

ROW_FUNCTIONS = [name for name in FUNCTIONS if name not in ELEMENTWISE]
SUPPORTED = "fastsoft supports float16, float32 and float64"


def _args(name, x, y=None):
    """Positional arrays for ``name``: ``x``, or ``(x, y)`` for a backward pass."""
    if name in BACKWARD:
        return (x, np.ones_like(x) if y is None else y)
    return (x,)


# --------------------------------------------------------------------------
# axis

AXIS_ERRORS = [
    (3, np.exceptions.AxisError, "axis 3 is out of bounds for array of dimension 3"),
    (-4, np.exceptions.AxisError, "axis -4 is out of bounds for array of dimension 3"),
    ((0, 5), np.exceptions.AxisError, "axis 5 is out of bounds for array of dimension 3"),
    ((0, 0), ValueError, re.escape("repeated axis in 'axis': (0, 0)")),
    ((0, -3), ValueError, re.escape("repeated axis in 'axis': (0, -3)")),
    (1.0, TypeError, "'axis' must be an integer, a tuple of integers or None, got 1.0"),
    ((0, 1.5), TypeError, "'axis' must be an integer, a tuple of integers or None"),
    ("1", TypeError, "'axis' must be an integer, a tuple of integers or None"),
    ([0, 1], TypeError, "'axis' must be an integer, a tuple of integers or None"),
    (True, TypeError, "'axis' must be an integer, a tuple of integers or None"),
]


@pytest.mark.parametrize(("axis", "error", "message"), AXIS_ERRORS,
                         ids=[repr(a) for a, _, _ in AXIS_ERRORS])
@pytest.mark.parametrize("name", ROW_FUNCTIONS)
def test_bad_axis(name, axis, error, message, backend):
    x = np.zeros((2, 3, 4))
    with pytest.raises(error, match=message):
        call(name, *_args(name, x), axis=axis, backend=backend)


def test_axis_error_is_also_index_and_value_error(backend):
    """AxisError subclasses both IndexError and ValueError, as in NumPy."""
    with pytest.raises(IndexError):
        call("softmax", np.zeros(3), axis=1, backend=backend)
    with pytest.raises(ValueError):
        call("softmax", np.zeros(3), axis=1, backend=backend)


def test_numpy_integer_axis_is_accepted(backend):
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(call("softmax", x, axis=np.int64(0), backend=backend),
                                  call("softmax", x, axis=0, backend=backend))
    np.testing.assert_array_equal(call("softmax", x, axis=(np.int32(1),), backend=backend),
                                  call("softmax", x, axis=1, backend=backend))


# --------------------------------------------------------------------------
# unsupported input dtypes

BAD_INPUTS = {
    "complex64": np.ones(3, np.complex64),
    "complex128": np.ones(3, np.complex128),
    "object": np.array([1.0, 2.0, 3.0], dtype=object),
    "str": np.array(["a", "b", "c"]),
    "bytes": np.array([b"a", b"b", b"c"]),
    "datetime": np.array(["2020-01-01", "2020-01-02", "2020-01-03"], dtype="datetime64[D]"),
    "timedelta": np.array([1, 2, 3], dtype="timedelta64[s]"),
    "structured": np.zeros(3, dtype=[("a", "f8")]),
    "list-of-str": ["a", "b", "c"],
    "complex-scalar": 1 + 2j,
}


@pytest.mark.parametrize("bad", list(BAD_INPUTS))
@pytest.mark.parametrize("name", FORWARD)
def test_unsupported_input_dtype(name, bad, backend):
    x = BAD_INPUTS[bad]
    kwargs = {} if name in ELEMENTWISE or np.ndim(x) else {"axis": None}
    with pytest.raises(TypeError, match=rf"'x' has unsupported dtype .*; {SUPPORTED}"):
        call(name, x, backend=backend, **kwargs)


@pytest.mark.parametrize("bad", ["complex128", "object", "str", "datetime"])
@pytest.mark.parametrize("which", ["y", "dy"])
@pytest.mark.parametrize("name", list(BACKWARD))
def test_unsupported_backward_dtype(name, which, bad, backend):
    good = np.ones(3)
    args = (BAD_INPUTS[bad], good) if which == "y" else (good, BAD_INPUTS[bad])
    with pytest.raises(TypeError, match=rf"'{which}' has unsupported dtype .*; {SUPPORTED}"):
        call(name, *args, backend=backend)


def test_longdouble_input_needs_dtype(backend):
    if np.dtype(np.longdouble) == np.float64:
        pytest.skip("long double is float64 here")
    x = np.ones(3, np.longdouble)
    with pytest.raises(TypeError, match=rf"{SUPPORTED}.*pass dtype=np.float64"):
        call("softmax", x, backend=backend)


# --------------------------------------------------------------------------
# dtype=

BAD_DTYPES = [
    ("int32", "'dtype' must be float16, float32 or float64, got int32"),
    (np.int64, "'dtype' must be float16, float32 or float64, got int64"),
    ("complex64", "'dtype' must be float16, float32 or float64, got complex64"),
    (bool, "'dtype' must be float16, float32 or float64, got bool"),
    ("nonsense", "'dtype' must be a NumPy floating dtype, got 'nonsense'"),
    (object, "'dtype' must be float16, float32 or float64, got object"),
]
if np.dtype(np.longdouble) != np.float64:
    BAD_DTYPES.append((np.longdouble, "'dtype' must be float16, float32 or float64, got float128"))


@pytest.mark.parametrize(("dtype", "message"), BAD_DTYPES, ids=[str(d) for d, _ in BAD_DTYPES])
@pytest.mark.parametrize("name", FORWARD)
def test_bad_dtype_argument(name, dtype, message, backend):
    with pytest.raises(TypeError, match=re.escape(message)):
        call(name, np.ones(3), dtype=dtype, backend=backend)


# --------------------------------------------------------------------------
# y and dy

@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((3, 4), (1, 4)), ((3, 4), (4, 3)),
                                    ((2,), ()), ((0, 3), (3,))], ids=str)
@pytest.mark.parametrize("name", list(BACKWARD))
def test_backward_shape_mismatch(name, shapes, backend):
    y_shape, dy_shape = shapes
    message = re.escape(f"'y' and 'dy' must have the same shape, got {y_shape} and {dy_shape}")
    kwargs = {} if name in ELEMENTWISE else {"axis": None}
    with pytest.raises(ValueError, match=message):
        call(name, np.ones(y_shape), np.ones(dy_shape), backend=backend, **kwargs)


# --------------------------------------------------------------------------
# where=

@pytest.mark.parametrize(("where", "dtype_name"), [
    (np.ones((2, 3), dtype=np.int64), "int64"),
    (np.ones((2, 3)), "float64"),
    ([1, 0, 1], "int64"),
    (np.ones(3, np.uint8), "uint8"),
    ("yes", "<U3"),
], ids=["int", "float", "int-list", "uint8", "str"])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_where_not_boolean(name, where, dtype_name, backend):
    with pytest.raises(TypeError, match=f"'where' must be a boolean array, got dtype {dtype_name}"):
        call(name, np.zeros((2, 3)), where=where, backend=backend)


@pytest.mark.parametrize("where_shape", [(4,), (3, 3), (2, 1, 3), (3, 1)], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_where_not_broadcastable(name, where_shape, backend):
    message = re.escape(f"'where' of shape {where_shape} cannot be broadcast to the input's "
                        "shape (2, 3)")
    with pytest.raises(ValueError, match=message):
        call(name, np.zeros((2, 3)), where=np.ones(where_shape, bool), backend=backend)


def test_where_may_not_broadcast_the_input(backend):
    """``where`` broadcasts to ``x``, never ``x`` to ``where``."""
    with pytest.raises(ValueError, match="cannot be broadcast to the input's shape"):
        call("softmax", np.zeros(3), where=np.ones((2, 3), bool), backend=backend)


# --------------------------------------------------------------------------
# backends

VALID = r"valid backends are .*'numba'"


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("bad", ["nope", "NUMBA", "", "numba ", 3])
def test_unknown_backend_argument(name, bad):
    args = _args(name, np.ones(3))
    with pytest.raises(ValueError, match=f"unknown backend {re.escape(repr(bad))}; {VALID}"):
        call(name, *args, backend=bad)


def test_unknown_backend_in_set_backend(restore_config):
    before = fastsoft.get_backend()
    with pytest.raises(ValueError, match=f"unknown backend 'nope'; {VALID}"):
        fastsoft.set_backend("nope")
    assert fastsoft.get_backend() == before
    with pytest.raises(ValueError, match=f"unknown backend 'nope'; {VALID}"):
        with fastsoft.use_backend("nope"):
            pass  # pragma: no cover
    assert fastsoft.get_backend() == before


def test_backend_message_lists_every_valid_name():
    with pytest.raises(ValueError) as info:
        fastsoft.softmax([1.0], backend="nope")
    for name in fastsoft.backends():
        assert repr(name) in str(info.value)


def test_unavailable_backend():
    """A known backend that cannot run here is refused with the reason."""
    missing = [name for name in ("cython", "numba", "cuda") if name not in fastsoft.backends()]
    if not missing:
        pytest.skip("every known backend is available here")
    for name in missing:
        with pytest.raises(ValueError, match=f"backend '{name}' is not available: "):
            fastsoft.softmax([1.0], backend=name)


def test_gpu_array_refused_by_cpu_backend(backend):
    class FakeDeviceArray:
        __cuda_array_interface__ = {"shape": (3,), "typestr": "<f8", "data": (0, False),
                                    "version": 3}

    with pytest.raises(TypeError, match="'x' is a GPU device array"):
        fastsoft.softmax(FakeDeviceArray(), backend=backend)


# --------------------------------------------------------------------------
# threads

@pytest.mark.parametrize(("value", "error", "message"), [
    (0, ValueError, "the number of threads must be a positive integer, got 0"),
    (-2, ValueError, "the number of threads must be a positive integer, got -2"),
    ("x", TypeError, "the number of threads must be a positive integer, got 'x'"),
    (1.5, TypeError, "the number of threads must be a positive integer, got 1.5"),
    (None, TypeError, "the number of threads must be a positive integer, got None"),
    (True, TypeError, "the number of threads must be a positive integer, got True"),
], ids=repr)
def test_set_num_threads_errors(value, error, message, restore_config):
    before = fastsoft.get_num_threads()
    with pytest.raises(error, match=re.escape(message)):
        fastsoft.set_num_threads(value)
    assert fastsoft.get_num_threads() == before


# --------------------------------------------------------------------------
# keyword-only parameters

@pytest.mark.parametrize("name", FUNCTIONS)
def test_options_are_keyword_only(name, backend):
    args = _args(name, np.ones(3))
    extra = (-1,) if name not in ELEMENTWISE else ()
    with pytest.raises(TypeError, match="positional argument"):
        getattr(fastsoft, name)(*args, *extra, np.empty(3), backend=backend)
