"""Fresh-process start-up: ``import`` plus the first call, side by side in one run.

    python benchmarks/startup.py [--repeat N]

Times, in new Python processes (median of N), the wall-clock time from
interpreter start to the end of the first softmax call on a (1000, 100)
float32 array for: fastsoft's default backend, the Numba backend with an
empty JIT cache (cold) and with a warm one (cached), and scipy.special.
An empty ``python -c pass`` is timed too, so the interpreter's own start-up
can be subtracted by eye.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

SETUP = "import numpy as np; x = np.random.default_rng(0).standard_normal((1000, 100))" \
        ".astype(np.float32)\n"

CASES = {
    "python -c pass": "pass",
    "numpy only": SETUP,
    "fastsoft (default backend)": SETUP + "import fastsoft; fastsoft.softmax(x)\n"
    "import sys; assert 'numba' not in sys.modules, 'the default backend imported numba'",
    "fastsoft numba, cold cache": SETUP + "import fastsoft; fastsoft.softmax(x, backend='numba')",
    "fastsoft numba, cached": SETUP + "import fastsoft; fastsoft.softmax(x, backend='numba')",
    "scipy.special": SETUP + "import scipy.special; scipy.special.softmax(x, axis=-1)",
}


def _run(code, env):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    times = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory() as warm_cache:
        base = dict(os.environ)
        warm = dict(base, NUMBA_CACHE_DIR=warm_cache)
        _run(CASES["fastsoft numba, cached"], warm)  # fill the warm cache
        for _ in range(args.repeat):  # interleaved rounds
            for name, code in CASES.items():
                if name == "fastsoft numba, cold cache":
                    with tempfile.TemporaryDirectory() as cold_cache:
                        times[name].append(_run(code, dict(base, NUMBA_CACHE_DIR=cold_cache)))
                elif name == "fastsoft numba, cached":
                    times[name].append(_run(code, warm))
                else:
                    times[name].append(_run(code, base))
    width = max(map(len, CASES))
    print(f"{'case':<{width}}  median s  (min .. max over {args.repeat} fresh processes)")
    for name, samples in times.items():
        print(f"{name:<{width}}  {statistics.median(samples):8.3f}  "
              f"({min(samples):.3f} .. {max(samples):.3f})")


if __name__ == "__main__":
    main()
