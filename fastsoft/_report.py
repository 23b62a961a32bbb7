"""``python -m fastsoft bench --full``: the benchmark matrix, written to BENCHMARKS.md.

Runs every function x dtype x shape of the matrix, with and without ``out=``,
against SciPy (or the NumPy expression for backward passes), PyTorch and the
floor (a copy of the input), side by side in one process; then writes a
Markdown report (per-function tables, the machine, the performance targets
and whether each is met), a PNG plot of the ratio to the floor (when
matplotlib is installed), and the headline numbers into the README between
``<!-- bench:start -->`` and ``<!-- bench:end -->``.  Numbers are generated,
never typed.
"""

import datetime
import os
import re

from fastsoft import _bench, _comparisons
from fastsoft._comparisons import FLOOR, FORWARD, make_cases

# (shape, axis): the issue-4 matrix, plus one long row for the split-row path.
MATRIX_SHAPES = (
    ((65536, 10), -1),
    ((8192, 1000), -1),
    ((32, 50257), -1),
    ((4096, 4096), -1),
    ((1000, 8192), 0),
    ((1, 10_000_000), -1),
)
PEERS = ("scipy", "torch")
# The Numba backend is timed too, to show the default backend is the faster one.
IMPLEMENTATIONS = ("fastsoft", "fastsoft[numba]") + PEERS + (FLOOR,)
REPEAT = 7
ONE_MB = 1 << 20

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


def matrix_cases(functions=_comparisons.FUNCTIONS, dtypes=("float32", "float64")):
    return make_cases(functions, MATRIX_SHAPES, dtypes, outs=(False, True))


def _bytes_moved(case):
    """Bytes a function must read and write: inputs once, the result once."""
    reads = 2 if case.is_backward else 1
    writes = 0 if case.function == "logsumexp" else 1
    return (reads + writes) * case.nbytes


def _fast_over_floor(m):
    fast, floor = m.median("fastsoft"), m.floor()
    return None if fast is None or floor is None else fast / floor


def _speedup(m, peer):
    return m.ratio(peer, "fastsoft")


def _fmt_ratio(value):
    return "-" if value is None else f"{value:.2f}"


def _fmt_ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.3f}"


# ---------------------------------------------------------------- targets


def _targets(results):
    """[(target, measured, met)] for the targets of issue 4."""
    rows = []

    def worst(ms, key):
        values = [(key(m), m) for m in ms if key(m) is not None]
        return max(values, key=lambda v: v[0]) if values else (None, None)

    big = [m for m in results if m.case.nbytes >= ONE_MB and m.case.shape != (65536, 10)
           and m.case.shape[0] > 32]
    for label, picked, limit in (
        ("forward functions, arrays >= 1 MB: <= 1.5x floor",
         [m for m in big if m.case.function in ("softmax", "log_softmax", "logsumexp")], 1.5),
        ("sigmoid, log_sigmoid, arrays >= 1 MB: <= 1.25x floor",
         [m for m in big if m.case.function in ("sigmoid", "log_sigmoid")], 1.25),
        ("backward passes, arrays >= 1 MB: <= 1.5x floor (1.5x copy)",
         [m for m in big if m.case.is_backward], 1.5),
        ("tiny rows (65536, 10): <= 4x floor",
         [m for m in results if m.case.shape == (65536, 10)], 4.0),
        ("few long rows (32, 50257) and one row of 1e7: <= 2x floor",
         [m for m in results if m.case.shape in ((32, 50257), (1, 10_000_000))], 2.0),
    ):
        value, m = worst(picked, _fast_over_floor)
        if value is not None:
            where = f"{m.case.function} {m.case.shape_label} {m.case.dtype}"
            where += " out=" if m.case.out else ""
            rows.append((label, f"worst {value:.2f}x ({where})", value <= limit))

    # Non-last axis: axis=0 on (1000, 8192) against the same bytes at axis=-1.
    by_key = {(m.case.function, m.case.shape, m.case.axis, m.case.dtype, m.case.out): m
              for m in results}
    ratios = []
    for m in results:
        c = m.case
        if c.shape == (1000, 8192) and c.axis == 0 and c.function not in (
                "sigmoid", "log_sigmoid", "sigmoid_backward"):
            same = by_key.get((c.function, (8192, 1000), -1, c.dtype, c.out))
            if same is not None and same.median("fastsoft") and m.median("fastsoft"):
                ratios.append((m.median("fastsoft") / same.median("fastsoft"), m))
    if ratios:
        value, m = max(ratios, key=lambda v: v[0])
        rows.append(("axis=0 on (1000, 8192): <= 1.5x the same bytes at axis=-1 (8192, 1000)",
                     f"worst {value:.2f}x ({m.case.function} {m.case.dtype}"
                     f"{' out=' if m.case.out else ''})", value <= 1.5))

    torch = [(_speedup(m, "torch"), m) for m in results if _speedup(m, "torch") is not None]
    if torch:
        value, m = min(torch, key=lambda v: v[0])
        rows.append(("never slower than PyTorch",
                     f"slowest case {value:.2f}x PyTorch's speed ({m.case.function} "
                     f"{m.case.shape_label} {m.case.dtype}{' out=' if m.case.out else ''})",
                     value >= 1.0))
        mean = _bench.geometric_mean(v for v, _ in torch)
        rows.append(("geometric mean >= 2x faster than PyTorch", f"{mean:.2f}x", mean >= 2.0))
    numba = [(_speedup(m, "fastsoft[numba]"), m) for m in results
             if _speedup(m, "fastsoft[numba]") is not None]
    if numba:
        value, m = min(numba, key=lambda v: v[0])
        rows.append(("default backend at least as fast as the Numba backend on every case",
                     f"slowest case {value:.2f}x Numba's speed ({m.case.function} "
                     f"{m.case.shape_label} {m.case.dtype}{' out=' if m.case.out else ''})",
                     value >= 1.0))
    scipy = [_speedup(m, "scipy") for m in results if m.case.function in FORWARD]
    mean = _bench.geometric_mean(scipy)
    if mean is not None:
        rows.append(("geometric mean >= 10x faster than SciPy (forward functions)",
                     f"{mean:.2f}x", mean >= 10.0))
    return rows


# ---------------------------------------------------------------- report


def _machine_lines():
    from fastsoft.__main__ import info_items

    keep = ("fastsoft", "default backend", "threads", "CPU", "cores", "SIMD", "cython build",
            "numba", "numpy", "scipy", "torch", "python")
    return [f"- **{label}**: {value}" for label, value in info_items() if label in keep]


def _function_table(results, function):
    head = ("| shape | dtype | out= | fastsoft ms | GB/s | x floor | vs SciPy | vs PyTorch "
            "| vs Numba backend |\n|---|---|---|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for m in results:
        c = m.case
        if c.function != function:
            continue
        fast = m.median("fastsoft")
        gbs = "-" if not fast else f"{_bytes_moved(c) / fast / 1e9:.1f}"
        lines.append(
            f"| {c.shape_label} | {c.dtype} | {'yes' if c.out else 'no'} | {_fmt_ms(fast)} | "
            f"{gbs} | {_fmt_ratio(_fast_over_floor(m))} | {_fmt_ratio(_speedup(m, 'scipy'))} | "
            f"{_fmt_ratio(_speedup(m, 'torch'))} | {_fmt_ratio(_speedup(m, 'fastsoft[numba]'))} |")
    return "\n".join(lines)


def _machine_summary():
    """``Intel(R) Xeon(R) Processor, 2 cores, AVX-512``: the machine in a few words."""
    from fastsoft.__main__ import info_items

    info = dict(info_items())
    parts = [info.get("CPU", "unknown CPU")]
    if "cores" in info:
        parts.append(f"{info['cores'].split()[0]} cores")
    if "SIMD" in info:
        parts.append(info["SIMD"].split(" (")[0])
    return ", ".join(parts)


def headline(results):
    """Markdown lines quoted in the README: the machine, the targets met, and
    the speed against PyTorch, SciPy and the floor."""
    torch = _bench.geometric_mean(_speedup(m, "torch") for m in results)
    scipy = _bench.geometric_mean(_speedup(m, "scipy") for m in results
                                  if m.case.function in FORWARD)
    floor = _bench.geometric_mean(_fast_over_floor(m) for m in results)
    slowest = min((_speedup(m, "torch") for m in results if _speedup(m, "torch")), default=None)
    targets = _targets(results)
    lines = [f"- Measured on {_machine_summary()}: {sum(met for _, _, met in targets)} of "
             f"{len(targets)} performance targets met."]
    if torch is not None:
        lines.append(f"- **{torch:.1f}x** faster than PyTorch (CPU) as the geometric mean over "
                     f"{len(results)} cases (slowest case: {slowest:.2f}x).")
    if scipy is not None:
        lines.append(f"- **{scipy:.0f}x** faster than `scipy.special` over the forward functions.")
    if floor is not None:
        lines.append(f"- **{floor:.2f}x** the time of a plain copy of the input (geometric mean).")
    return lines


def write_report(results, path, plot_path, elapsed, other_load):
    plot_note = _plot(results, plot_path)
    targets = _targets(results)
    out = ["# fastsoft benchmarks", "",
           f"Generated by `python -m fastsoft bench --full` on "
           f"{datetime.date.today().isoformat()} in {elapsed / 60:.1f} minutes; do not edit by "
           "hand.", "",
           f"Medians of {REPEAT} interleaved runs per case, all implementations timed side by "
           "side in one process. **x floor**: fastsoft's time over a plain copy of the input "
           "(`x.copy()`, or `np.copyto` into an existing array with `out=`; 1.5x that for "
           "backward passes, which read two arrays). **vs SciPy / vs PyTorch**: the peer's time "
           "over fastsoft's (above 1: fastsoft is faster). Backward passes compare with the "
           "NumPy expression in the SciPy column. **vs Numba backend**: fastsoft's Numba backend "
           "over the default backend. **GB/s**: bytes read and written once over "
           "fastsoft's time.", "",
           "## Machine", ""] + _machine_lines()
    if other_load is not None:
        out.append(f"- **other load during the run**: {other_load:.0%} of the CPUs")
    out += ["", "## Headline", ""] + headline(results)
    out += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    out += [f"| {label} | {value} | {'yes' if met else '**no**'} |"
            for label, value, met in targets]
    out += ["", plot_note, ""]
    for function in _comparisons.FUNCTIONS:
        if any(m.case.function == function for m in results):
            out += [f"## {function}", "", _function_table(results, function), ""]
    skipped = {}
    for m in results:
        for name, why in m.skipped.items():
            skipped.setdefault(f"{name}: {why}", None)
    if skipped:
        out += ["## Not measured", ""] + [f"- {why}" for why in skipped] + [""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    return targets


def update_readme(readme, results):
    """Replace the README's headline block; returns True when it was found."""
    if not os.path.exists(readme):
        return False
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        return False
    block = "\n".join([README_START] + headline(results) + [README_END])
    with open(readme, "w", encoding="utf-8") as f:
        f.write(pattern.sub(lambda _: block, text))
    return True


def _plot_label(case):
    """A short tick label: ``8192x1000 ax0 f32 out``."""
    label = "x".join(map(str, case.shape))
    if case.axis not in (-1, len(case.shape) - 1):
        label += f" ax{case.axis}"
    return f"{label} f{case.dtype[5:]}{' out' if case.out else ''}"


def _plot(results, path):
    """A PNG of fastsoft's ratio to the floor per case; a Markdown line about it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return "(No plot: matplotlib is not installed; `pip install fastsoft[plot]`.)"
    functions = [f for f in _comparisons.FUNCTIONS if any(m.case.function == f for m in results)]
    fig, axes = plt.subplots(len(functions), 1, figsize=(12, 3.0 * len(functions)), sharex=False,
                             squeeze=False)
    axes = axes[:, 0]
    for ax, function in zip(axes, functions):
        ms = [m for m in results if m.case.function == function]
        labels = [_plot_label(m.case) for m in ms]
        values = [_fast_over_floor(m) or 0 for m in ms]
        torch = [(m.ratio("torch", FLOOR) or 0) / (1.5 if m.case.is_backward else 1) for m in ms]
        xs = range(len(ms))
        ax.bar([x - 0.2 for x in xs], values, width=0.4, label="fastsoft")
        ax.bar([x + 0.2 for x in xs], torch, width=0.4, label="PyTorch")
        ax.axhline(1.0, color="black", linewidth=0.8)
        # Ratios run from below 1 to near 100: a log scale keeps both readable.
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(function, fontsize=9)
        ax.set_ylabel("x floor (log)")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, fontsize=6, rotation=60, ha="right")
        ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"![ratio of time to the floor, fastsoft and PyTorch]({os.path.basename(path)})"


def run_full(output, plot_path, readme, progress=None, functions=None, dtypes=None):
    """Run the matrix and write the report; returns the targets table."""
    import time

    cases = matrix_cases(functions or _comparisons.FUNCTIONS, dtypes or ("float32", "float64"))
    start = time.perf_counter()
    with _bench.OtherLoad() as load:
        results = _bench.run(cases, IMPLEMENTATIONS, REPEAT, progress=progress)
    elapsed = time.perf_counter() - start
    targets = write_report(results, output, plot_path, elapsed, load.fraction)
    update_readme(readme, results)
    return results, targets
