"""The Cython kernels built without OpenMP (serial) give the reference's results.

Builds the baseline variant from this source tree into a temporary folder with
FASTSOFT_DISABLE_OPENMP=1, loads it under another name, and runs it through
the front door in place of the installed kernels.  Skipped where the sources
or a C compiler are missing (an installed wheel, a machine without gcc).
"""

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fastsoft
from fastsoft._comparisons import FUNCTIONS
from tests.util import KINDS, check, inputs_for, seed_of

REPO = pathlib.Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not (REPO / "setup.py").exists() or "cython" not in fastsoft.backends()
    or shutil.which(os.environ.get("CC", "cc")) is None
    or importlib.util.find_spec("Cython") is None,
    reason="needs the source tree, the Cython backend, Cython and a C compiler",
)


@pytest.fixture(scope="module")
def serial_kernels(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    env = dict(os.environ, FASTSOFT_DISABLE_OPENMP="1", FASTSOFT_BUILD_VARIANTS="baseline")
    env.pop("FASTSOFT_REQUIRE_OPENMP", None)
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(out / "lib"),
         "--build-temp", str(out / "tmp")],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    built = sorted((out / "lib" / "fastsoft" / "_cython").glob("_kernels_baseline*.so"))
    assert build.returncode == 0 and len(built) == 1, (
        f"the serial build failed (exit {build.returncode}):\n{build.stdout}\n{build.stderr}")
    (path,) = built
    spec = importlib.util.spec_from_file_location("fastsoft_serial._kernels_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from fastsoft import _cython

    previous = _cython._impl
    _cython._impl = module
    previous_work = _cython.set_min_work_per_thread(1)
    try:
        yield module
    finally:
        _cython._impl = previous
        _cython.set_min_work_per_thread(previous_work)


def test_serial_build_has_no_openmp(serial_kernels):
    assert not serial_kernels.openmp_enabled()
    assert serial_kernels.max_threads() == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_serial_build_matches_reference(serial_kernels, name, axis, dtype, kind,
                                        restore_config):
    # The suite's own inputs and tolerances (tests/util.py), on an array long
    # enough that the parallel paths would split it.
    fastsoft.set_num_threads(2)  # a serial build runs on one thread whatever is asked
    arrays = inputs_for(name, (6, 2000, 3), dtype, kind=kind, axis=axis, seed=seed_of(name))
    check(name, arrays, backend="cython", axis=axis)
