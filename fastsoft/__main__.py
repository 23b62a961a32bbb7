"""The command line: ``python -m fastsoft info`` and ``python -m fastsoft bench``.

``info`` describes this installation: version, backends (and why any is
missing), threads, CPU and SIMD level, library versions.  ``bench`` times
fastsoft against its NumPy reference (and, on request, SciPy and PyTorch) on a
few built-in sizes and prints medians, speed-ups and the ratio to a plain copy.

>>> parser = build_parser()
>>> parser.parse_args(["bench", "--quick"]).quick
True
"""

import argparse
import importlib
import importlib.metadata
import os
import platform
import sys

import fastsoft
from fastsoft import _config

__all__ = ["main", "build_parser", "info_items", "cpu_model", "simd_level"]

# ---------------------------------------------------------------- info


def _read_cpuinfo():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _cpuinfo_field(text, *keys):
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in keys and value.strip():
            return value.strip()
    return None


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    text = _read_cpuinfo()
    model = _cpuinfo_field(text, "model name", "Model", "cpu model", "Hardware")
    return model or platform.processor() or platform.machine() or "unknown"


# Best first: the first level whose flags are all present is reported.
_SIMD_LEVELS = (
    ("AVX-512", ("avx512f",)),
    ("AVX2+FMA", ("avx2", "fma")),
    ("AVX2", ("avx2",)),
    ("AVX", ("avx",)),
    ("SSE4.2", ("sse4_2",)),
    ("SSE2", ("sse2",)),
    ("SVE", ("sve",)),
    ("NEON (ASIMD)", ("asimd",)),
    ("NEON", ("neon",)),
)
_SIMD_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx2", "fma", "avx", "sse4_2", "sse2",
               "sve", "asimd", "neon")


def simd_level(flags=None):
    """The best SIMD instruction set the CPU reports, and the relevant flags it has.

    >>> simd_level({"sse2", "avx", "avx2", "fma"})
    ('AVX2+FMA', 'avx2 fma avx sse2')
    """
    if flags is None:
        text = _read_cpuinfo()
        flags = set((_cpuinfo_field(text, "flags", "Features") or "").split())
    if not flags:
        return "unknown", ""
    present = " ".join(f for f in _SIMD_FLAGS if f in flags)
    for level, needed in _SIMD_LEVELS:
        if all(f in flags for f in needed):
            return level, present
    return "none of " + ", ".join(_SIMD_FLAGS), present


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _numba_items():
    """Numba's version, LLVM target CPU and threading layer (after one parallel call)."""
    if _config.unavailable_reason("numba") is not None:
        return [("numba", "not installed")]
    import numba

    items = [("numba", f"{numba.__version__} (llvmlite {_version('llvmlite')})")]
    try:
        from llvmlite import binding

        items.append(("numba target CPU", binding.get_host_cpu_name()))
    except Exception:  # noqa: BLE001 - informational only
        pass
    layer = "unknown"
    try:
        import numpy as np

        from fastsoft import _numba

        # The threading layer is chosen on the first parallel call: make one.
        fastsoft.sigmoid(np.zeros(8), backend="numba")
        layer = _numba.threading_layer()
    except Exception as exc:  # noqa: BLE001 - informational only
        layer = f"unknown ({type(exc).__name__}: {exc})"
    items.append(("numba threading layer", layer))
    items.append(("numba max threads", str(numba.config.NUMBA_NUM_THREADS)))
    return items


def _cython_items():
    """The Cython extension's build information, when it is built."""
    try:
        module = importlib.import_module("fastsoft._cython")
        build = module.build_info()
    except Exception:  # noqa: BLE001 - absent or not built: nothing to report
        return []
    text = ", ".join(f"{key}={value}" for key, value in dict(build).items())
    return [("cython build", text)]


def info_items():
    """``(label, value)`` pairs describing this installation."""
    items = [("fastsoft", f"{fastsoft.__version__} ({os.path.dirname(fastsoft.__file__)})")]
    for name in _config.KNOWN_BACKENDS:
        reason = _config.unavailable_reason(name)
        items.append((f"backend {name}", "available" if reason is None else
                      f"unavailable: {reason}"))
    try:
        default = _config.default_backend()
    except (ValueError, RuntimeError) as exc:
        default = f"none ({exc})"
    items.append(("default backend", default))
    try:
        threads = str(fastsoft.get_num_threads())
    except (ValueError, TypeError) as exc:
        threads = f"invalid ({exc})"
    items.append(("threads", threads))
    items.append(("CPU", cpu_model()))
    affinity = _config._cpu_count()
    items.append(("cores", f"{os.cpu_count()} ({affinity} usable by this process)"))
    level, flags = simd_level()
    items.append(("SIMD", f"{level} (flags: {flags})" if flags else level))
    items += _cython_items()
    items += _numba_items()
    items.append(("numpy", _version("numpy")))
    items.append(("scipy", _version("scipy")))
    items.append(("torch", _version("torch")))
    items.append(("python", f"{platform.python_version()} ({platform.python_implementation()}, "
                            f"{platform.system()} {platform.machine()})"))
    return items


def cmd_info(args):
    items = info_items()
    width = max(len(label) for label, _ in items)
    for label, value in items:
        print(f"{label + ':':<{width + 1}} {value}")
    return 0


# ---------------------------------------------------------------- bench

# (shape, axis) pairs: a square batch and many tiny rows (a 10-class classifier).
DEFAULT_SHAPES = (((1000, 1000), -1), ((65536, 10), -1))
QUICK_SHAPES = (((1000, 1000), -1),)
DEFAULT_REPEAT = 7
# Share of the CPUs taken by other processes above which the table gets a warning.
OTHER_LOAD_WARNING = 0.1
QUICK_REPEAT = 3


def _progress(stream):
    tty = stream.isatty()
    state = {"width": 0}

    def report(i, n, case):
        text = f"bench: [{i + 1}/{n}] {case.function} {case.shape_label} {case.dtype}"
        if i == 0:
            text += " (includes JIT warm-up)"
        if tty:
            stream.write("\r" + text.ljust(state["width"]))
            state["width"] = len(text)
        else:
            stream.write(text + "\n")
        stream.flush()

    def done():
        if tty and state["width"]:
            stream.write("\r" + " " * state["width"] + "\r")
            stream.flush()

    return report, done


def _ms(seconds):
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.1f}"


def _ratio(value):
    return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def bench_table(results, peers):
    """The table of ``bench``: ms per implementation, speed-ups, ratio to the floor."""
    from fastsoft._bench import format_table

    headers = ["function", "shape", "dtype", "fastsoft ms"]
    headers += [f"{peer} ms" for peer in peers]
    headers += ["speed-up" if len(peers) == 1 else f"vs {peer}" for peer in peers]
    headers += ["floor ms", "x floor"]
    rows = []
    for m in results:
        case = m.case
        row = [case.function, case.shape_label, case.dtype, _ms(m.median("fastsoft"))]
        row += [_ms(m.median(peer)) for peer in peers]
        row += [_ratio(m.ratio(peer, "fastsoft")) for peer in peers]
        floor = m.floor()
        fast = m.median("fastsoft")
        row += [_ms(floor), _ratio(None if floor is None or fast is None else fast / floor)]
        rows.append(row)
    return format_table(headers, rows, "<<<" + ">" * (len(headers) - 3))


def cmd_bench(args):
    from fastsoft import _bench, _comparisons

    if args.backend is not None:
        try:
            fastsoft.set_backend(args.backend)
        except ValueError as exc:
            print(f"fastsoft bench: error: {exc}", file=sys.stderr)
            return 2
    if args.threads is not None:
        fastsoft.set_num_threads(args.threads)
    if args.full:
        return _bench_full(args)
    shapes = QUICK_SHAPES if args.quick else DEFAULT_SHAPES
    repeat = args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    peers = ["reference"] + [p for p in (args.compare or []) if p != "reference"]
    cases = _comparisons.make_cases(args.function or _comparisons.FUNCTIONS, shapes,
                                    args.dtype or ("float32", "float64"))
    implementations = ["fastsoft"] + peers + [_comparisons.FLOOR]

    try:
        backend = _config.default_backend()
    except (ValueError, RuntimeError) as exc:
        print(f"fastsoft bench: error: {exc}", file=sys.stderr)
        return 2
    print(f"fastsoft {fastsoft.__version__}, backend {backend}, "
          f"{fastsoft.get_num_threads()} threads, {cpu_model()}; "
          f"median of {repeat} interleaved runs", flush=True)
    report, done = _progress(sys.stderr)
    try:
        with _bench.OtherLoad() as other_load:
            results = _bench.run(cases, implementations, repeat, progress=report)
    finally:
        done()
    print(bench_table(results, peers))

    for peer in peers:
        mean = _bench.geometric_mean(m.ratio(peer, "fastsoft") for m in results)
        if mean is not None:
            print(f"geometric mean speed-up over {peer}: {mean:.1f}x")
    skipped = {}
    for m in results:
        for name, why in m.skipped.items():
            skipped.setdefault(name, why)
    for name, why in skipped.items():
        print(f"{name} skipped: {why}")
    print("speed-up: the peer's median time over fastsoft's; floor: the median of x.copy() "
          "(1.5x that for backward passes, which read two arrays).")
    if other_load.fraction is not None and other_load.fraction > OTHER_LOAD_WARNING:
        print(f"warning: other processes used {other_load.fraction:.0%} of the CPUs during this "
              "run; multi-threaded timings are disturbed (run again on a quiet machine).")
    return 0


def _bench_full(args):
    from fastsoft import _report

    report, done = _progress(sys.stderr)
    print(f"fastsoft {fastsoft.__version__}: the full benchmark matrix "
          f"({len(_report.matrix_cases(args.function or _report._comparisons.FUNCTIONS))} cases, "
          "about 15 minutes); writing " + args.output, flush=True)
    try:
        _, targets = _report.run_full(args.output, args.plot, args.readme, progress=report,
                                      functions=args.function, dtypes=args.dtype)
    finally:
        done()
    for label, value, met in targets:
        print(f"{'met   ' if met else 'MISSED'}  {label}: {value}")
    print(f"wrote {args.output}" + (f" and {args.plot}" if os.path.exists(args.plot) else ""))
    return 0


# ---------------------------------------------------------------- main


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser():
    from fastsoft._comparisons import FUNCTIONS, IMPLEMENTATIONS

    parser = argparse.ArgumentParser(
        prog="python -m fastsoft",
        description="fastsoft: fast, exact softmax and sigmoid for NumPy.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser("info", help="describe this installation (backends, CPU, versions)",
                               description="Describe this installation: version, backends, "
                               "threads, CPU and SIMD level, library versions.")
    info.set_defaults(handler=cmd_info)

    bench = commands.add_parser(
        "bench", help="time fastsoft against the NumPy reference (under a minute)",
        description="Time fastsoft against fastsoft.reference on built-in sizes: medians of "
        "interleaved runs, speed-ups, and the ratio to a plain copy of the input.")
    bench.add_argument("--quick", action="store_true",
                       help=f"one shape, {QUICK_REPEAT} repeats (a few seconds)")
    bench.add_argument("--repeat", type=_positive_int, metavar="N",
                       help=f"timed runs per implementation (default {DEFAULT_REPEAT}, "
                       f"{QUICK_REPEAT} with --quick)")
    bench.add_argument("--backend", choices=_config.CPU_BACKENDS,
                       help="the fastsoft backend to time (default: the default backend)")
    bench.add_argument("--threads", type=_positive_int, metavar="N",
                       help="threads for fastsoft's kernels (default: all cores)")
    peers = [name for name in IMPLEMENTATIONS if name not in ("fastsoft", "reference", "copy")]
    bench.add_argument("--compare", action="append", choices=peers, metavar="PEER",
                       help=f"also compare with PEER (repeatable): {', '.join(peers)}")
    bench.add_argument("--function", action="append", choices=FUNCTIONS, metavar="NAME",
                       help="time only this function (repeatable; default: all eight)")
    bench.add_argument("--dtype", action="append", choices=("float32", "float64"),
                       help="time only this dtype (repeatable; default: both)")
    bench.add_argument("--full", action="store_true",
                       help="run the whole benchmark matrix against SciPy, PyTorch and the "
                       "floor, and write BENCHMARKS.md, a plot and the README's headline")
    bench.add_argument("--output", default="BENCHMARKS.md", metavar="PATH",
                       help="with --full: the report to write (default BENCHMARKS.md)")
    bench.add_argument("--plot", default="BENCHMARKS.png", metavar="PATH",
                       help="with --full: the plot to write (default BENCHMARKS.png)")
    bench.add_argument("--readme", default="README.md", metavar="PATH",
                       help="with --full: the README whose headline block to update")
    bench.set_defaults(handler=cmd_bench)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
