"""Result dtypes: float32 -> float32, float64 -> float64, float16 -> float16 (computed in
float32), bool and integers -> float64 (as SciPy), ``dtype=`` overrides; backward passes
follow NumPy's promotion of ``y`` and ``dy`` with the same rules."""

import numpy as np
import pytest

from tests.util import (
    BACKWARD,
    ELEMENTWISE,
    FORWARD,
    FUNCTIONS,
    awkward,
    call,
    check,
    inputs_for,
    values,
)

# input dtype -> documented result dtype
RESULT_DTYPES = {
    "float16": "float16",
    "float32": "float32",
    "float64": "float64",
    ">f4": "float32",
    ">f8": "float64",
    "<f2": "float16",
    "bool": "float64",
    "int8": "float64",
    "int16": "float64",
    "int32": "float64",
    "int64": "float64",
    "uint8": "float64",
    "uint16": "float64",
    "uint32": "float64",
    "uint64": "float64",
}


@pytest.mark.parametrize("in_dtype", list(RESULT_DTYPES))
@pytest.mark.parametrize("name", FORWARD)
def test_forward_result_dtype(name, in_dtype, backend):
    x = awkward((4, 5), in_dtype, seed=1)
    got = check(name, (x,), backend=backend)
    assert got.dtype == np.dtype(RESULT_DTYPES[in_dtype])
    assert got.dtype.isnative


def test_python_scalars_and_lists_give_float64(backend):
    assert call("softmax", [1, 2, 3], backend=backend).dtype == np.float64
    assert call("softmax", [True, False], backend=backend).dtype == np.float64
    assert call("sigmoid", 1, backend=backend).dtype == np.float64
    assert call("log_sigmoid", 2.5, backend=backend).dtype == np.float64
    assert call("logsumexp", [1.0, 2.0], backend=backend).dtype == np.float64
    assert call("sigmoid", np.float32(1), backend=backend).dtype == np.float32


OVERRIDES = [
    ("float16", "float32"),  # the example: float16 input, float32 result
    ("float16", "float64"),
    ("float32", "float64"),
    ("float32", "float16"),
    ("float64", "float32"),
    ("float64", "float16"),
    ("int64", "float32"),
    ("bool", "float16"),
    ("float32", "float32"),
]


@pytest.mark.parametrize("spelling", ["name", "type", "dtype"])
@pytest.mark.parametrize(("in_dtype", "dtype"), OVERRIDES, ids=lambda v: str(v))
@pytest.mark.parametrize("name", FORWARD)
def test_dtype_override(name, in_dtype, dtype, spelling, backend):
    """``dtype=`` sets the result and compute dtype; the input is cast to the compute dtype."""
    spelled = {"name": dtype, "type": getattr(np, dtype), "dtype": np.dtype(dtype)}[spelling]
    x = awkward((4, 6), in_dtype, seed=2)
    got = check(name, (x,), backend=backend, dtype=spelled)
    assert got.dtype == np.dtype(dtype)


@pytest.mark.parametrize("kind", ["huge", "tiny", "nonfinite"])
@pytest.mark.parametrize("name", FORWARD)
def test_dtype_override_narrowing_extreme_values(name, kind, backend):
    """float64 input with values outside float32's range, computed with dtype=float32."""
    x = values((4, 6), "float64", kind, np.random.default_rng(3))
    check(name, (x,), backend=backend, dtype="float32")


def test_big_endian_dtype_override_gives_native(backend):
    got = call("softmax", np.arange(4.0), dtype=">f4", backend=backend)
    assert got.dtype == np.float32 and got.dtype.isnative


def test_longdouble_input_with_float64_override(backend):
    x = np.array([0.5, 1.5, -2.0], dtype=np.longdouble)
    check("softmax", (x,), backend=backend, dtype=np.float64)


# (y dtype, dy dtype) pairs for the backward passes: NumPy's promotion, then the rules.
BACKWARD_PAIRS = [
    ("float32", "float32"),
    ("float64", "float64"),
    ("float16", "float16"),
    ("float16", "float32"),
    ("float32", "float64"),
    ("float64", "float16"),
    ("float32", "int64"),
    ("float16", "int8"),
    ("int32", "int32"),
    ("bool", "bool"),
    ("bool", "float32"),
    (">f4", "<f4"),
    (">f8", ">f8"),
]


@pytest.mark.parametrize(("y_dtype", "dy_dtype"), BACKWARD_PAIRS, ids=lambda v: str(v))
@pytest.mark.parametrize("name", list(BACKWARD))
def test_backward_result_dtype(name, y_dtype, dy_dtype, backend):
    y, _ = inputs_for(name, (3, 5), y_dtype, seed=4)
    _, dy = inputs_for(name, (3, 5), dy_dtype, seed=5)
    promoted = np.result_type(np.dtype(y_dtype), np.dtype(dy_dtype))
    want = promoted.newbyteorder("=") if promoted.kind == "f" else np.dtype(np.float64)
    got = check(name, (y, dy), backend=backend, axis=None if name in ELEMENTWISE else -1)
    assert got.dtype == want


@pytest.mark.parametrize("name", FUNCTIONS)
def test_empty_result_dtype(name, backend):
    for dtype, want in [("float16", "float16"), ("float32", "float32"), ("int64", "float64")]:
        arrays = inputs_for(name, (0, 4), dtype)
        got = call(name, *arrays, backend=backend)
        assert got.dtype == np.dtype(want)
        assert got.shape == ((0,) if name == "logsumexp" else (0, 4))
