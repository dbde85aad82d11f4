"""Build pydl's Cython/OpenMP kernels.

Every ``csrc/<family>.pyx`` becomes the extension module ``pydl._ext.<family>``.

Environment switches (read at build time):

``PYDL_NO_OPENMP=1``
    Build the kernels serially even where the compiler supports OpenMP.
``PYDL_CYTHON_DEBUG=1``
    Turn Cython's bounds, wraparound and initialisation checks on and build with
    ``-O0 -g``: for hunting a kernel that reads or writes out of range.
``PYDL_SANITIZE=1``
    Build with AddressSanitizer and UndefinedBehaviorSanitizer (gcc/clang).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
CSRC = "csrc"

_OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d", n);
        return n < 1;
    }
    """
)


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _openmp_flags(compiler_type):
    """Candidate (compile, link) flag pairs for OpenMP, most likely first."""
    if compiler_type == "msvc":
        return [(["/openmp"], [])]
    if sys.platform == "darwin":
        # Apple clang has no -fopenmp driver flag; libomp comes from Homebrew or conda.
        return [(["-fopenmp"], ["-fopenmp"]),
                (["-Xpreprocessor", "-fopenmp"], ["-lomp"])]
    return [(["-fopenmp"], ["-fopenmp"])]


def _probe_openmp(compiler, compile_flags, link_flags):
    """Compile, link and run a tiny ``#pragma omp parallel`` program.

    Running it (not only compiling it) catches a toolchain whose headers are present
    but whose runtime library cannot be loaded.
    """
    tmp = tempfile.mkdtemp(prefix="pydl-omp-")
    cwd = os.getcwd()
    try:
        os.chdir(tmp)
        Path("probe.c").write_text(_OPENMP_PROBE)
        objects = compiler.compile(["probe.c"], output_dir=tmp, extra_postargs=compile_flags)
        exe = os.path.join(tmp, "probe" + (".exe" if sys.platform == "win32" else ""))
        compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=link_flags)
        out = subprocess.run([exe], capture_output=True, text=True, timeout=60)
        return out.returncode == 0 and out.stdout.strip().isdigit()
    except Exception:  # noqa: BLE001 - any failure means "no usable OpenMP"
        return False
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    """build_ext that probes OpenMP, picks optimisation flags and builds in parallel."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        debug = _env_flag("PYDL_CYTHON_DEBUG")
        sanitize = _env_flag("PYDL_SANITIZE")

        compile_args, link_args = [], []
        if ctype == "msvc":
            compile_args += ["/O2"]
        else:
            # Neither flag changes a result: -fno-math-errno lets gcc inline sqrt;
            # -fno-trapping-math lets it turn float compares into selects, without
            # which no loop over csrc/_vmath.h functions vectorizes.
            compile_args += (["-O0", "-g"] if debug else ["-O3"])
            compile_args += ["-fno-math-errno", "-fno-trapping-math"]
            compile_args += ["-Wno-unused-function", "-Wno-unreachable-code"]
            if sanitize:
                san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                       "-fno-sanitize-recover=undefined"]
                compile_args += san + ["-g", "-O1"]
                link_args += san

        use_openmp = False
        if _env_flag("PYDL_NO_OPENMP"):
            print("pydl: PYDL_NO_OPENMP is set; building the kernels serially")
        else:
            for c_flags, l_flags in _openmp_flags(ctype):
                if _probe_openmp(self.compiler, c_flags, l_flags):
                    compile_args += c_flags
                    link_args += l_flags
                    use_openmp = True
                    break
            if not use_openmp:
                print("pydl: WARNING: the compiler cannot build and run an OpenMP program; "
                      "building the kernels serially (they will use one thread)",
                      file=sys.stderr)

        for ext in self.extensions:
            ext.extra_compile_args = list(ext.extra_compile_args or []) + compile_args
            ext.extra_link_args = list(ext.extra_link_args or []) + link_args
        super().build_extensions()


def _extensions():
    from Cython.Build import cythonize

    debug = _env_flag("PYDL_CYTHON_DEBUG")
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": False,
        "cdivision": True,
        "initializedcheck": debug,
        "embedsignature": True,
    }
    sources = sorted((ROOT / CSRC).glob("*.pyx"))
    if not sources:
        # Never build a kernel-less "pure" wheel by accident (an sdist missing csrc/).
        raise RuntimeError(f"no Cython sources found in {ROOT / CSRC}")
    exts = [
        Extension(
            f"pydl._ext.{src.stem}",
            [f"{CSRC}/{src.name}"],
            include_dirs=[CSRC],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
        for src in sources
    ]
    return cythonize(
        exts,
        include_path=[CSRC],
        compiler_directives=directives,
        nthreads=os.cpu_count() or 1,
        # A debug or sanitizer build must not reuse C files generated without it.
        force=debug or _env_flag("PYDL_SANITIZE"),
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
