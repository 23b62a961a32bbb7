"""Backends, the default backend, thread counts, environment variables and import cost."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastsoft
from tests.util import FUNCTIONS, check, function_axes, inputs_for

KNOWN = ("cython", "numba", "cuda")


def run_python(code, **env_changes):
    """Run ``code`` in a fresh interpreter; return its last stdout line parsed as JSON.

    ``env_changes`` maps variable names to values, or to None to unset them.
    """
    env = dict(os.environ)
    for key in ("FASTSOFT_BACKEND", "FASTSOFT_NUM_THREADS"):
        env.pop(key, None)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# Backends


def test_backends():
    names = fastsoft.backends()
    assert isinstance(names, tuple) and names
    assert set(names) <= set(KNOWN)
    assert "numba" in names  # numba is a hard dependency
    # Best first: the order of the known list.
    assert list(names) == [name for name in KNOWN if name in names]


def test_default_backend_is_best_cpu_backend():
    result = run_python("""
        import json, fastsoft
        print(json.dumps([fastsoft.get_backend(), list(fastsoft.backends())]))
    """)
    default, names = result
    assert default == [name for name in names if name != "cuda"][0]


def test_set_backend(restore_config):
    for name in fastsoft.backends():
        if name == "cuda":
            continue
        fastsoft.set_backend(name)
        assert fastsoft.get_backend() == name
        x = np.linspace(-3, 3, 12).reshape(3, 4)
        check("softmax", (x,), backend=None)


def test_use_backend_restores_previous(restore_config):
    names = [name for name in fastsoft.backends() if name != "cuda"]
    before = fastsoft.get_backend()
    with fastsoft.use_backend(names[-1]):
        assert fastsoft.get_backend() == names[-1]
        with fastsoft.use_backend(names[0]):
            assert fastsoft.get_backend() == names[0]
        assert fastsoft.get_backend() == names[-1]
    assert fastsoft.get_backend() == before


def test_use_backend_restores_after_exception(restore_config):
    before = fastsoft.get_backend()
    with pytest.raises(RuntimeError, match="inside"):
        with fastsoft.use_backend("numba"):
            raise RuntimeError("inside")
    assert fastsoft.get_backend() == before


def test_use_backend_restores_after_set_backend_inside(restore_config):
    fastsoft.set_backend("numba")
    with fastsoft.use_backend("numba"):
        fastsoft.set_backend("numba")
    assert fastsoft.get_backend() == "numba"


def test_backend_environment_variable():
    code = """
        import json, fastsoft
        import numpy as np
        default = fastsoft.get_backend()
        y = fastsoft.softmax(np.array([0.0, 0.0])).tolist()
        fastsoft.set_backend("numba")  # an explicit choice wins over the environment
        print(json.dumps([default, y, fastsoft.get_backend()]))
    """
    assert run_python(code, FASTSOFT_BACKEND="numba") == ["numba", [0.5, 0.5], "numba"]
    # Surrounding blanks are ignored.
    assert run_python(code, FASTSOFT_BACKEND=" numba ")[0] == "numba"


def test_bad_backend_environment_variable():
    code = """
        import json, fastsoft
        errors = []
        for call in (fastsoft.get_backend, lambda: fastsoft.softmax([1.0])):
            try:
                call()
            except ValueError as exc:
                errors.append(str(exc))
        # An explicit backend= still works.
        y = fastsoft.softmax([1.0], backend="numba").tolist()
        print(json.dumps([errors, y]))
    """
    errors, y = run_python(code, FASTSOFT_BACKEND="bogus")
    assert len(errors) == 2
    for message in errors:
        assert "FASTSOFT_BACKEND" in message
        assert "unknown backend 'bogus'" in message and "'numba'" in message
    assert y == [1.0]


# --------------------------------------------------------------------------
# Threads


def test_default_num_threads_is_cpu_count():
    code = """
        import json, os, fastsoft
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:
            cpus = os.cpu_count()
        print(json.dumps([fastsoft.get_num_threads(), cpus]))
    """
    threads, cpus = run_python(code)
    assert threads == cpus


@pytest.mark.parametrize(("value", "expected"), [("1", 1), (" 3 ", 3)])
def test_num_threads_environment_variable(value, expected):
    code = """
        import json, fastsoft
        import numpy as np
        y = fastsoft.softmax(np.zeros((64, 2)), backend="numba")
        print(json.dumps([fastsoft.get_num_threads(), bool(np.all(y == 0.5))]))
    """
    assert run_python(code, FASTSOFT_NUM_THREADS=value) == [expected, True]


@pytest.mark.parametrize("value", ["0", "abc", "1.5"])
def test_bad_num_threads_environment_variable(value):
    code = """
        import json, fastsoft
        try:
            fastsoft.get_num_threads()
            print(json.dumps(None))
        except ValueError as exc:
            print(json.dumps(str(exc)))
    """
    message = run_python(code, FASTSOFT_NUM_THREADS=value)
    assert message is not None and "FASTSOFT_NUM_THREADS" in message
    assert "positive integer" in message


def test_set_num_threads_roundtrip(restore_config):
    for n in (1, 2, 5):
        fastsoft.set_num_threads(n)
        assert fastsoft.get_num_threads() == n
    fastsoft.set_num_threads(np.int64(3))
    assert fastsoft.get_num_threads() == 3


@pytest.mark.parametrize("threads", [1, 2, "all", "more than cores"])
@pytest.mark.parametrize(("name", "axis"), function_axes(FUNCTIONS, [-1, 0, (0, 2)]))
def test_results_with_any_thread_count(name, axis, threads, restore_config, backend):
    cpus = os.cpu_count() or 1
    fastsoft.set_num_threads({"all": cpus, "more than cores": 4 * cpus + 1}.get(threads, threads))
    # Enough rows (and columns for the non-last-axis kernels) to split across threads.
    arrays = inputs_for(name, (40, 33, 300), "float32", axis=axis, seed=7)
    check(name, arrays, backend=backend, axis=axis)


# --------------------------------------------------------------------------
# Import


def test_import_does_not_import_numba():
    code = """
        import json, sys
        import fastsoft
        after_import = "numba" in sys.modules
        fastsoft.softmax([1.0, 2.0], backend="numba")
        print(json.dumps([after_import, "numba" in sys.modules]))
    """
    assert run_python(code) == [False, True]


def test_reference_is_reachable_from_the_package():
    """The issue and the README list ``fastsoft.reference`` in the public API: after a plain
    ``import fastsoft`` it must be an attribute (it imports only NumPy)."""
    code = """
        import json, sys
        import fastsoft
        reachable = hasattr(fastsoft, "reference")
        y = fastsoft.reference.softmax([0.0, 0.0]).tolist() if reachable else None
        print(json.dumps([reachable, y, "numba" in sys.modules]))
    """
    assert run_python(code) == [True, [0.5, 0.5], False]


def test_public_api():
    for name in FUNCTIONS + ("expit", "log_expit", "backends", "set_backend", "get_backend",
                             "use_backend", "set_num_threads", "get_num_threads"):
        assert name in fastsoft.__all__ and callable(getattr(fastsoft, name))
    assert fastsoft.expit is fastsoft.sigmoid
    assert fastsoft.log_expit is fastsoft.log_sigmoid
    assert isinstance(fastsoft.__version__, str)
    from fastsoft import reference

    for name in FUNCTIONS:
        assert callable(getattr(reference, name))


def test_default_backend_change_reaches_the_next_call(restore_config, monkeypatch):
    """set_backend and use_backend decide which kernels the very next call runs
    (the front door caches the default backend's kernels)."""
    from fastsoft import _config

    numba_kernels = _config.load_backend("numba")
    calls = []
    original = numba_kernels.softmax

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(numba_kernels, "softmax", spy)
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    default_is_numba = fastsoft.get_backend() == "numba"
    fastsoft.softmax(x)
    assert len(calls) == int(default_is_numba)
    with fastsoft.use_backend("numba"):
        fastsoft.softmax(x)
    assert len(calls) == 1 + int(default_is_numba)
    fastsoft.softmax(x)
    assert len(calls) == 1 + 2 * int(default_is_numba)
    fastsoft.set_backend("numba")
    check("softmax", (x,), backend=None)
    assert len(calls) == 2 + 2 * int(default_is_numba)
    fastsoft.softmax(x, backend="numba")
    assert len(calls) == 3 + 2 * int(default_is_numba)


@pytest.mark.skipif("cython" not in fastsoft.backends(), reason="the Cython backend is not built")
def test_cython_test_hooks_import_only_variants_this_cpu_runs(monkeypatch):
    """The setters that tests use reach every variant the CPU can run, and
    never import one it cannot (a module built for AVX-512 may execute
    AVX-512 instructions as it loads: on an AVX2 CPU, SIGILL)."""
    from fastsoft import _cython

    runnable = _cython.simd_variants()[-1:]  # the baseline: every x86-64 CPU runs it
    imported = []
    real_import = _cython.importlib.import_module
    monkeypatch.setattr(_cython, "simd_variants", lambda: runnable)
    monkeypatch.setattr(_cython.importlib, "import_module",
                        lambda name: imported.append(name) or real_import(name))
    for setter, value in ((_cython.set_min_work_per_thread, 1),
                          (_cython.set_stream_min_bytes, 0),
                          (_cython.set_band_mode, 1)):
        setter(setter(value))
    assert set(imported) == {f"fastsoft._cython._kernels_{name}" for name in runnable}


def test_build_info_reports_the_last_level_cache():
    """The cache size the streaming rule uses is the L3 size the kernel reports
    (in Linux's sysfs, where it is there)."""
    if "cython" not in fastsoft.backends():
        pytest.skip("the Cython backend is not built here")
    from fastsoft import _cython

    got = _cython.build_info()["last_level_cache_bytes"]
    assert isinstance(got, int) and got >= 0
    base = "/sys/devices/system/cpu/cpu0/cache"
    levels = {}
    for entry in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        try:
            with open(os.path.join(base, entry, "level")) as f:
                levels[int(f.read())] = os.path.join(base, entry, "size")
        except (OSError, ValueError):
            continue
    if 3 not in levels:
        pytest.skip("no L3 size in sysfs here")
    with open(levels[3]) as f:
        text = f.read().strip()
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    want = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
    assert got == want
