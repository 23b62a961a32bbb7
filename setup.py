"""Build script: package metadata lives in pyproject.toml; this file builds the
Cython backend (fastsoft/_cython).

The kernels (fastsoft/_cython/_kernels.pxi) are compiled several times, once
per instruction set, into modules ``fastsoft._cython._kernels_<variant>``:

* ``baseline``: the compiler's default target (SSE2 on x86-64), runs anywhere;
* ``avx2``:     ``-mavx2 -mfma``                              (x86-64 only);
* ``avx512``:   ``-mavx512f -mavx512dq -mavx512bw -mavx512vl`` (x86-64 only,
                 where the compiler accepts the flags).

fastsoft/_cython/__init__.py picks the best one the CPU can run at import.

OpenMP is probed by compiling and linking a tiny OpenMP program; without it
the kernels are built serial.  ``FASTSOFT_REQUIRE_OPENMP=1`` turns a failed
probe into a build error (CI sets it).  If the extension cannot be built at
all (no compiler), the install still succeeds without it, with a warning:
fastsoft then runs on the Numba backend.  Either way the build writes
fastsoft/_cython/build_record.json, which ``python -m fastsoft info`` reads.

Build-time environment variables: FASTSOFT_REQUIRE_OPENMP=1 (fail without
OpenMP), FASTSOFT_DISABLE_OPENMP=1 (build serial kernels),
FASTSOFT_BUILD_VARIANTS=baseline,avx2,... (build only these variants).

Never -ffast-math: its -ffinite-math-only breaks -inf masks and NaN
propagation.  -fno-trapping-math lets gcc if-convert (and so vectorize) the
branch-free selects; -ffp-contract=fast allows FMA; -fno-math-errno lets libm
calls be treated as pure.
"""

import json
import os
import platform
import shutil
import sys
import tempfile
import textwrap
import traceback

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PACKAGE_DIR = os.path.join("fastsoft", "_cython")
RECORD_NAME = "build_record.json"

# -g0: no debug info (it triples the size of the modules).
GCC_COMMON = ["-O3", "-g0", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=fast"]
X86_VARIANTS = {
    "baseline": [],
    "avx2": ["-mavx2", "-mfma"],
    "avx512": ["-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl",
               "-mprefer-vector-width=512"],
}
# gcc stops inlining once a translation unit has grown 40% by inlining
# (--param inline-unit-growth), and these modules are large: past that limit
# it left small helpers of the hot loops as calls (exp_shifted in the column
# loops: a call per element, not vectorized; softmax (1000, 8192) axis=0
# float64 went from 9.6 to 23 ms when a change elsewhere added code).  Added
# where the compiler accepts it (each flag on its own).  Likewise gcc
# vectorizes a loop whose pointers may alias only behind at most 10 run-time
# overlap checks (--param vect-max-version-for-alias-checks): the column sums
# of four rows at a time (band_sums, y and dy rows against the sums and
# compensations) need 17, and ran scalar ((10000, 512) axis=0 float64
# softmax_backward, out=, 2 threads: 3.5 -> 2.6 ms).
GCC_INLINE = ["--param=inline-unit-growth=200", "--param=vect-max-version-for-alias-checks=32"]
# 32-bit x86: scalar maths in SSE2, as the vector lanes do, not in the x87
# unit's extended precision, under which TwoSum differences are no longer
# exact and a scalar exp no longer has the bits of the same exp in a vector
# lane (plain_log_sum in _kernels.pxi relies on them).
GCC_X86_32 = ["-msse2", "-mfpmath=sse"]
# MSVC: no cpu detection in fs_platform.h, so only the baseline is built.
MSVC_COMMON = ["/O2", "/fp:precise"]


def _is_x86_64():
    return platform.machine().lower() in ("x86_64", "amd64", "x64", "i386", "i686")


def _variants(compiler_type):
    if compiler_type == "msvc" or not _is_x86_64():
        variants = {"baseline": []}
    else:
        variants = dict(X86_VARIANTS)
    # FASTSOFT_BUILD_VARIANTS=baseline,avx2 builds only those (the baseline is
    # always built: it is the one every CPU runs and it detects the CPU).
    only = os.environ.get("FASTSOFT_BUILD_VARIANTS", "").strip()
    if only:
        keep = {name.strip() for name in only.split(",")} | {"baseline"}
        variants = {name: flags for name, flags in variants.items() if name in keep}
    return variants


def _extensions():
    """One Extension per SIMD variant the build may try (flags added later)."""
    headers = [os.path.join(PACKAGE_DIR, h) for h in ("fs_math.h", "fs_platform.h", "fs_short.h")]
    return [
        Extension(
            f"fastsoft._cython._kernels_{name}",
            sources=[os.path.join(PACKAGE_DIR, f"_kernels_{name}.pyx")],
            include_dirs=[PACKAGE_DIR],
            depends=headers + [os.path.join(PACKAGE_DIR, "_kernels.pxi")],
        )
        for name in X86_VARIANTS
    ]


def _short(message, limit=400):
    """A compiler's error for the record: one line, not the whole command."""
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


class BuildExt(build_ext):
    """build_ext that probes OpenMP and ISA flags, and never fails the install."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = True  # the variants compile concurrently (one job per core)

    def run(self):
        self.record = {"openmp": False, "openmp_flags": [], "variants": {}, "build_error": None,
                       "compiler": None, "python": sys.version.split()[0]}
        try:
            self._build_all()
        except OpenMPRequired:
            raise
        except Exception as exc:  # no compiler, no Cython, ...: install without the extension
            self.record["build_error"] = _short(f"{type(exc).__name__}: {exc}")
            self._warn(
                "the Cython extension of fastsoft could not be built; fastsoft will use "
                f"its Numba backend instead.\n  reason: {self.record['build_error']}"
            )
        self._write_record()

    # -- the steps ----------------------------------------------------------

    def _build_all(self):
        from Cython.Build import cythonize  # a build requirement (pyproject.toml)

        self.compiler_type = self._compiler_type()
        self.record["compiler"] = self.compiler_type
        variants = _variants(self.compiler_type)
        openmp_flags = self._probe_openmp()
        self.record["openmp"] = openmp_flags is not None
        self.record["openmp_flags"] = openmp_flags or []
        common = MSVC_COMMON if self.compiler_type == "msvc" else GCC_COMMON
        if self.compiler_type != "msvc":
            common = common + [flag for flag in GCC_INLINE if self._compiles([flag])]
            if platform.machine().lower() in ("i386", "i686") and self._compiles(GCC_X86_32):
                common = common + GCC_X86_32

        wanted = []
        for ext in self.extensions:
            name = ext.name.rsplit("_", 1)[-1]
            if name not in variants:
                continue
            flags = variants[name]
            if flags and not self._compiles(flags):
                self.record["variants"][name] = "skipped: the compiler does not accept " + \
                    " ".join(flags)
                continue
            ext.extra_compile_args = common + flags + (openmp_flags or [])
            ext.extra_link_args = list(openmp_flags or [])
            wanted.append(ext)
        # Cython writes _kernels_<variant>.c beside each .pyx; the Extension
        # objects (set up by setuptools) are kept and pointed at the C files.
        generated = cythonize(wanted, compiler_directives={"language_level": "3"}, quiet=True)
        sources = {ext.name: ext.sources for ext in generated}
        for ext in wanted:
            ext.sources = sources[ext.name]
        self.extensions = wanted
        super().run()

    def build_extension(self, ext):
        name = ext.name.rsplit("_", 1)[-1]
        try:
            super().build_extension(ext)
        except Exception as exc:
            self.record["variants"][name] = _short(f"failed: {type(exc).__name__}: {exc}")
            if name == "baseline":
                raise
            self._warn(f"fastsoft: the {name} variant of the kernels failed to build: {exc}")
        else:
            self.record["variants"][name] = "built"

    # -- probes -------------------------------------------------------------

    def _compiler_type(self):
        from setuptools._distutils.ccompiler import new_compiler

        compiler = self.compiler
        if isinstance(compiler, str) or compiler is None:
            compiler = new_compiler(compiler=compiler)
        return compiler.compiler_type

    def _new_compiler(self):
        from setuptools._distutils.ccompiler import new_compiler
        from setuptools._distutils.sysconfig import customize_compiler

        compiler = new_compiler(compiler=self.compiler if isinstance(self.compiler, str) else None)
        customize_compiler(compiler)
        return compiler

    def _try_build(self, code, compile_flags, link_flags=None):
        """Whether `code` compiles (and links, when link_flags is given)."""
        tmp = tempfile.mkdtemp(prefix="fastsoft-probe-")
        try:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write(code)
            compiler = self._new_compiler()
            objects = compiler.compile([src], output_dir=tmp, extra_postargs=compile_flags)
            if link_flags is not None:
                compiler.link_executable(objects, "probe", output_dir=tmp,
                                         extra_postargs=link_flags)
            return True
        except Exception:
            return False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _compiles(self, flags):
        return self._try_build("int main(void) { return 0; }\n", flags)

    def _probe_openmp(self):
        """The OpenMP compile/link flags, or None when OpenMP is not usable."""
        code = textwrap.dedent("""\
            #include <omp.h>
            int main(void) {
                int n = 0;
                #pragma omp parallel reduction(+:n)
                n += 1;
                return n > 0 && omp_get_max_threads() > 0 ? 0 : 1;
            }
            """)
        if os.environ.get("FASTSOFT_DISABLE_OPENMP", "") not in ("", "0"):
            # A serial build: for processes that fork (GNU OpenMP is not
            # fork-safe), and for the test of the serial build.
            return None
        flags = ["/openmp"] if self.compiler_type == "msvc" else ["-fopenmp"]
        link = [] if self.compiler_type == "msvc" else ["-fopenmp"]
        if self._try_build(code, flags, link):
            return flags
        message = ("the C compiler cannot build OpenMP code (tried "
                   f"{' '.join(flags)}); the Cython kernels will run on one thread")
        if os.environ.get("FASTSOFT_REQUIRE_OPENMP", "") not in ("", "0"):
            raise OpenMPRequired(f"FASTSOFT_REQUIRE_OPENMP is set but {message}")
        self._warn("fastsoft: " + message)
        return None

    # -- reporting ----------------------------------------------------------

    def _warn(self, message):
        bar = "*" * 78
        sys.stderr.write(f"\n{bar}\nWARNING: {message}\n{bar}\n\n")

    def _write_record(self):
        """build_record.json next to the built modules (and in the source tree
        for in-place / editable builds), for `python -m fastsoft info`."""
        text = json.dumps(self.record, indent=2, sort_keys=True) + "\n"
        targets = [os.path.join(self.build_lib, PACKAGE_DIR)]
        if self.inplace or getattr(self, "editable_mode", False):
            targets.append(PACKAGE_DIR)
        for folder in targets:
            try:
                os.makedirs(folder, exist_ok=True)
                with open(os.path.join(folder, RECORD_NAME), "w") as f:
                    f.write(text)
            except OSError:
                traceback.print_exc()


class OpenMPRequired(RuntimeError):
    """FASTSOFT_REQUIRE_OPENMP=1 and OpenMP is not available: fail the build."""


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
