"""Configure PyTensor before hierlmm compiles any graph.

PyPI wheels of PyTensor usually find no BLAS to link its C backend against and warn
about it at the first compilation. hierlmm's hot paths run through numba (nutpie) or
numpy, so the missing BLAS does not matter to it: we resolve PyTensor's BLAS flags once,
with that one warning silenced, so it never reaches the user, and keep the result on
disk, since detecting it costs every process about 0.4 s (:func:`resolve_blas_flags`);
the same for the C compiler's ``-march=native`` flags (:func:`resolve_march_flags`).

:func:`configure` is called where hierlmm first uses PyTensor (``build_model``, and
``prior_predictive`` before it compiles), not when hierlmm is imported, so
``import hierlmm`` changes no PyTensor state. It runs once per process; later calls
return at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
import tempfile
import warnings
from pathlib import Path

from hierlmm._openmp_setup import configure_openmp

#: PyTensor mode of the independence sampler's log-density, whose calls are few and may
#: be dominated by a Python Op (numpy/LAPACK, e.g. the all-factor likelihood): numba
#: would wrap such an Op in object mode, compiled afresh in every process (~9 s). PyTensor's
#: C linker compiles the other nodes once per machine (kept in its compiledir) and runs
#: the Python Op as a thunk: sleepstudy's one-factor log-density costs ~90 us a call
#: there, against ~1.4 ms with Python thunks for every node. Without a C compiler, Python
#: thunks without elementwise fusion (a fused loop runs element by element in Python).
PYTHON_MODE = "HIERLMM_PY"


@functools.cache
def configure() -> None:
    """Resolve ``pytensor.config.blas__ldflags`` once without emitting the BLAS warning
    (:func:`resolve_blas_flags`), read the C compiler's CPU flags
    (:func:`resolve_march_flags`), and register :data:`PYTHON_MODE`. First, before any
    parallel kernel runs, shorten OpenMP's spin-wait
    (:func:`hierlmm._openmp_setup.configure_openmp`)."""
    configure_openmp()
    import pytensor
    from pytensor.compile.mode import Mode, predefined_modes, register_mode

    if PYTHON_MODE not in predefined_modes:
        if pytensor.config.cxx:
            mode = Mode(linker="cvm", optimizer="fast_run")
        else:
            mode = Mode(linker="py", optimizer="fast_run").excluding("fusion")
        register_mode(PYTHON_MODE, mode)

    resolve_march_flags(pytensor.config)  # first: detecting BLAS compiles with them
    resolve_blas_flags(pytensor.config)


def _user_set(config, key: str) -> bool:
    """Whether ``key`` was given in ``PYTENSOR_FLAGS`` or a ``.pytensorrc`` (PyTensor
    reads those when it is imported; the class attribute is the config parameter)."""
    return not getattr(type(config), key).is_default


def cache_dir(config) -> Path:
    """``<PyTensor compiledir>/hierlmm-graphs``: hierlmm's files beside PyTensor's
    compiled code (the graph cache, the kept probes), cleared with it."""
    return Path(config.compiledir) / "hierlmm-graphs"


def kept_file(config, kind: str, *parts: str) -> Path:
    """Where a detected PyTensor setting is kept: PyTensor's compile directory, under a
    name that changes with ``parts`` and the Python environment (its prefix, PyTensor,
    numpy and scipy). Deleting the compile directory clears it with the compiled code."""
    import numpy
    import pytensor
    import scipy

    text = "|".join([sys.prefix, pytensor.__version__, numpy.__version__,
                     scipy.__version__, *parts])
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return cache_dir(config) / f"{kind}-{digest}.json"


def _read_kept(path: Path) -> object:
    """The JSON value kept at ``path``; None when there is none or it is unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_atomically(path: Path, blob: bytes) -> bool:
    """Write ``blob`` to ``path`` through a temporary file and a rename, so concurrent
    processes never read half a file; False when the directory is not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(blob)
        os.replace(handle.name, path)
    except OSError:
        return False
    return True


def _keep(path: Path, value: object) -> None:
    """Write ``value`` as JSON at ``path`` (:func:`write_atomically`)."""
    write_atomically(path, json.dumps(value).encode())


def resolve_blas_flags(config) -> str:
    """``config.blas__ldflags``, detected once per environment and machine.

    PyTensor detects its BLAS flags by trying to link test programs (about 0.4 s per
    process, a fifth of a small model's whole fit) and warns when it finds none. The
    result is kept (:func:`kept_file`) and read back by later processes; flags the user
    set (``PYTENSOR_FLAGS=blas__ldflags=...`` or ``.pytensorrc``) are never touched.
    """
    if _user_set(config, "blas__ldflags"):
        return config.blas__ldflags
    path = kept_file(config, "blas-ldflags")
    kept = _read_kept(path)
    if isinstance(kept, str):
        config.blas__ldflags = kept
        return kept
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        flags = config.blas__ldflags
    _keep(path, flags)
    return flags


def _cpu_identity() -> str:
    """The CPU's model name and feature flags (``/proc/cpuinfo``), else the platform's."""
    try:
        with open("/proc/cpuinfo") as handle:
            lines = [line for line in handle if line.startswith(("model name", "flags"))]
        return "".join(lines[:2])
    except OSError:
        return f"{platform.machine()}|{platform.processor()}"


def resolve_march_flags(config) -> list[str] | None:
    """PyTensor's ``-march=native`` equivalent flags, detected once per CPU.

    Before its first C compilation (or cache lookup) in a process, PyTensor runs g++ a
    few times to find the flags that ``-march=native`` implies (about 0.4 s). They
    depend on the compiler, its flags and the CPU, which name the kept file, so a
    compile directory shared between machines never gets another CPU's flags. None
    without a C compiler.
    """
    from pytensor.link.c.cmodule import GCC_compiler

    if not config.cxx:
        return None
    path = kept_file(config, "march-flags", config.cxx, config.gcc__cxxflags,
                     _cpu_identity())
    kept = _read_kept(path)
    if not (isinstance(kept, list) and all(isinstance(flag, str) for flag in kept)):
        if GCC_compiler.march_flags is None:
            GCC_compiler.compile_args()  # detects them
        _keep(path, GCC_compiler.march_flags)
    elif GCC_compiler.march_flags is None:
        GCC_compiler.march_flags = kept
    return GCC_compiler.march_flags
