"""Configure PyTensor before hierlmm compiles any graph.

PyPI wheels of PyTensor usually find no BLAS to link its C backend against and warn
about it at the first compilation. hierlmm's hot paths run through numba (nutpie) or
numpy, so the missing BLAS does not matter to it: we resolve PyTensor's BLAS flags once,
with that one warning silenced, so it never reaches the user, and keep the result on
disk, since detecting it costs every process about 0.4 s (:func:`resolve_blas_flags`).

:func:`configure` is called where hierlmm first uses PyTensor (``build_model``, and
``prior_predictive`` before it compiles), not when hierlmm is imported, so
``import hierlmm`` changes no PyTensor state. It runs once per process; later calls
return at once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import warnings
from pathlib import Path

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
    (:func:`resolve_blas_flags`), and register :data:`PYTHON_MODE`."""
    import pytensor
    from pytensor.compile.mode import Mode, predefined_modes, register_mode

    if PYTHON_MODE not in predefined_modes:
        if pytensor.config.cxx:
            mode = Mode(linker="cvm", optimizer="fast_run")
        else:
            mode = Mode(linker="py", optimizer="fast_run").excluding("fusion")
        register_mode(PYTHON_MODE, mode)

    resolve_blas_flags(pytensor.config)


def _user_set(config, key: str) -> bool:
    """Whether ``key`` was given in ``PYTENSOR_FLAGS`` or a ``.pytensorrc`` (PyTensor
    reads those when it is imported; the class attribute is the config parameter)."""
    return not getattr(type(config), key).is_default


def blas_flags_file(config) -> Path:
    """Where the detected BLAS flags are kept: PyTensor's compile directory, under a name
    that changes with the Python environment (its prefix and PyTensor, numpy, scipy)."""
    import numpy
    import pytensor
    import scipy

    text = f"{sys.prefix}|{pytensor.__version__}|{numpy.__version__}|{scipy.__version__}"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return Path(config.compiledir) / "hierlmm-graphs" / f"blas-ldflags-{digest}.txt"


def resolve_blas_flags(config) -> str:
    """``config.blas__ldflags``, detected once per environment and machine.

    PyTensor detects its BLAS flags by trying to link test programs (about 0.4 s per
    process, a fifth of a small model's whole fit) and warns when it finds none. The
    result is kept in :func:`blas_flags_file` and read back by later processes; flags
    the user set (``PYTENSOR_FLAGS=blas__ldflags=...`` or ``.pytensorrc``) are never
    touched. Deleting the compile directory clears the file with the compiled code.
    """
    if _user_set(config, "blas__ldflags"):
        return config.blas__ldflags
    path = blas_flags_file(config)
    try:
        config.blas__ldflags = path.read_text()
        return config.blas__ldflags
    except (OSError, UnicodeDecodeError):
        pass
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        flags = config.blas__ldflags
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(flags)
        tmp.replace(path)  # atomic: a concurrent process reads all of it or nothing
    return flags
