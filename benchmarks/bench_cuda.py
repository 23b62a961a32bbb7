"""GPU benchmark of fastsoft's CUDA backend against CuPy and PyTorch CUDA.

Run on a machine with an NVIDIA GPU and numba-cuda installed::

    python benchmarks/bench_cuda.py                      # float32, every case
    python benchmarks/bench_cuda.py --dtype float64 --repeat 50
    python benchmarks/bench_cuda.py --functions softmax logsumexp --json gpu.json

Every case is warmed up (compilation, allocator pools) and then timed with CUDA
events around ``--repeat`` back-to-back calls; the table gives the mean time
per call, the bandwidth its minimal traffic implies (every input read once,
every output written once) and that bandwidth as a fraction of the device's
measured device-to-device copy bandwidth (a copy reads and writes each byte
once: the practical ceiling for these memory-bound functions).  fastsoft is
timed with a preallocated ``out=`` (Numba's allocator has no pool) and on Numba
device arrays; CuPy (``cupyx.scipy.special``) and PyTorch allocate their
results from their pools.  Launch overhead counts: for small arrays the Python
side of a Numba launch (tens of microseconds) can dominate.

Without a GPU (or under the CUDA simulator) the script says so and exits 0.
"""

import argparse
import json
import math
import sys

import numpy as np

# (shape, axis): the CPU benchmark's shapes, then larger ones.
CASES = [
    ((65536, 10), -1),
    ((8192, 1000), -1),
    ((32, 50257), -1),
    ((4096, 4096), -1),
    ((1000, 8192), 0),
    ((16384, 4096), -1),
    ((262144, 128), -1),
    ((8, 1_000_000), -1),
    ((1, 16_777_216), -1),
    ((4096, 4096), 0),
]
FUNCTIONS = ["softmax", "log_softmax", "logsumexp", "sigmoid", "log_sigmoid",
             "softmax_backward", "log_softmax_backward", "sigmoid_backward"]
ELEMENTWISE = {"sigmoid", "log_sigmoid", "sigmoid_backward"}
BACKWARD = {"softmax_backward", "log_softmax_backward", "sigmoid_backward"}


def gpu_or_exit():
    try:
        import fastsoft
        from fastsoft._cuda import _arrays
    except ImportError as exc:
        print(f"fastsoft's CUDA backend cannot be imported: {exc}")
        sys.exit(0)
    reason = fastsoft._config.unavailable_reason("cuda")
    if reason is not None or _arrays.SIMULATOR:
        print("no GPU: " + (reason or "this is the CUDA simulator") + "; nothing to time")
        sys.exit(0)


def time_call(fn, repeat, warmup=3):
    """Mean milliseconds per call, by CUDA events around ``repeat`` calls."""
    from numba import cuda

    for _ in range(warmup):
        fn()
    cuda.synchronize()
    start, end = cuda.event(timing=True), cuda.event(timing=True)
    start.record()
    for _ in range(repeat):
        fn()
    end.record()
    end.synchronize()
    return cuda.event_elapsed_time(start, end) / repeat


def copy_bandwidth(nbytes=1 << 30, repeat=20):
    """Device-to-device copy bandwidth in GB/s (bytes read + bytes written)."""
    from numba import cuda

    n = nbytes // 4
    src = cuda.device_array(n, np.float32)
    dst = cuda.device_array(n, np.float32)
    ms = time_call(lambda: dst.copy_to_device(src), repeat)
    return 2 * n * 4 / ms / 1e6


def traffic(name, shape, axis, itemsize):
    """Bytes a call must move at least: inputs read once, outputs written once."""
    size = math.prod(shape)
    if name == "logsumexp":
        return (size + size // shape[axis]) * itemsize
    inputs = 2 if name in BACKWARD else 1
    return (inputs + 1) * size * itemsize


def make_inputs(name, shape, axis, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if name not in BACKWARD:
        return [x]
    from fastsoft import reference

    forward = name.replace("_backward", "")
    if forward == "sigmoid":
        y = reference.sigmoid(x)
    else:
        y = getattr(reference, forward)(x, axis=axis)
    return [y.astype(dtype), rng.standard_normal(shape).astype(dtype)]


def fastsoft_call(name, arrays, axis):
    from numba import cuda

    import fastsoft

    fn = getattr(fastsoft, name)
    dev = [cuda.to_device(a) for a in arrays]
    kwargs = {} if name in ELEMENTWISE else {"axis": axis}
    out = fn(*dev, **kwargs)  # allocates once (and compiles); then reuse it
    return lambda: fn(*dev, out=out, **kwargs)


def cupy_call(name, arrays, axis):
    try:
        import cupy
        from cupyx.scipy import special
    except ImportError:
        return None
    dev = [cupy.asarray(a) for a in arrays]
    if name in ("softmax", "log_softmax", "logsumexp"):
        fn = getattr(special, name)
        return lambda: fn(dev[0], axis=axis)
    if name == "sigmoid":
        return lambda: special.expit(dev[0])
    if name == "log_sigmoid":
        return lambda: special.log_expit(dev[0])
    y, dy = dev if len(dev) == 2 else (None, None)
    if name == "softmax_backward":
        return lambda: y * (dy - (dy * y).sum(axis=axis, keepdims=True))
    if name == "log_softmax_backward":
        return lambda: dy - cupy.exp(y) * dy.sum(axis=axis, keepdims=True)
    return lambda: dy * y * (1 - y)


def torch_call(name, arrays, axis):
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    dev = [torch.as_tensor(a, device="cuda") for a in arrays]
    dim = axis
    if name == "softmax":
        return lambda: torch.softmax(dev[0], dim)
    if name == "log_softmax":
        return lambda: torch.log_softmax(dev[0], dim)
    if name == "logsumexp":
        return lambda: torch.logsumexp(dev[0], dim)
    if name == "sigmoid":
        return lambda: torch.sigmoid(dev[0])
    if name == "log_sigmoid":
        return lambda: torch.nn.functional.logsigmoid(dev[0])
    y, dy = dev
    if name == "softmax_backward":
        return lambda: torch._softmax_backward_data(dy, y, dim, y.dtype)
    if name == "log_softmax_backward":
        return lambda: torch._log_softmax_backward_data(dy, y, dim, y.dtype)
    return lambda: torch.ops.aten.sigmoid_backward(dy, y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--functions", nargs="+", default=FUNCTIONS, choices=FUNCTIONS)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    gpu_or_exit()

    from numba import cuda

    from fastsoft._cuda import _launch, _run

    device = cuda.get_current_device()
    ceiling = copy_bandwidth()
    print(f"{device.name.decode() if isinstance(device.name, bytes) else device.name}: "
          f"{_launch.multiprocessor_count()} SMs, device-to-device copy {ceiling:.0f} GB/s")
    print(f"{'function':<22}{'shape':<18}{'axis':>5}  {'path':<22}"
          f"{'impl':<9}{'ms':>9}{'GB/s':>9}{'of copy':>9}")
    rows = []
    dtype = np.dtype(args.dtype)
    for name in args.functions:
        for shape, axis in CASES:
            if name in ELEMENTWISE and axis != -1:
                continue
            arrays = make_inputs(name, shape, axis, dtype)
            nbytes = traffic(name, shape, axis, dtype.itemsize)
            if name in ELEMENTWISE:
                where = "element-wise"
            else:
                axes = (axis % len(shape),)
                order = _run.block_order(shape, arrays[0].strides, axes)
                block = tuple(math.prod(shape[a] for a in g) for g in _run.row_groups(order, axes))
                family, threads, _, _, chunks, _ = _run._row_geometry(
                    block, _launch.get_launch_config())
                where = f"{family} {threads[0]}x{threads[1]}" + (f" /{chunks}" if chunks > 1
                                                                 else "")
            for impl, make in (("fastsoft", fastsoft_call), ("cupy", cupy_call),
                               ("torch", torch_call)):
                call = make(name, arrays, axis)
                if call is None:
                    continue
                ms = time_call(call, args.repeat)
                gbs = nbytes / ms / 1e6
                rows.append({"function": name, "shape": list(shape), "axis": axis,
                             "dtype": dtype.name, "impl": impl, "path": where, "ms": ms,
                             "GB/s": gbs, "fraction_of_copy": gbs / ceiling})
                print(f"{name:<22}{'x'.join(map(str, shape)):<18}{axis:>5}  {where:<22}"
                      f"{impl:<9}{ms:>9.4f}{gbs:>9.0f}{gbs / ceiling:>9.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device.name), "copy_GB/s": ceiling, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
