"""Configure PyTensor before hierlmm compiles any graph.

PyPI wheels of PyTensor usually find no BLAS to link its C backend against and warn
about it at the first compilation. hierlmm's hot paths run through numba (nutpie) or
numpy, so the missing BLAS does not matter to it: we resolve PyTensor's BLAS flags once,
with that one warning silenced, so it never reaches the user.

:func:`configure` is called where hierlmm first uses PyTensor (``build_model``, and
``prior_predictive`` before it compiles), not when hierlmm is imported, so
``import hierlmm`` changes no PyTensor state. It runs once per process; later calls
return at once.
"""

from __future__ import annotations

import functools
import warnings

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
    """Resolve ``pytensor.config.blas__ldflags`` once without emitting the BLAS warning,
    and register :data:`PYTHON_MODE`."""
    import pytensor
    from pytensor.compile.mode import Mode, predefined_modes, register_mode

    if PYTHON_MODE not in predefined_modes:
        if pytensor.config.cxx:
            mode = Mode(linker="cvm", optimizer="fast_run")
        else:
            mode = Mode(linker="py", optimizer="fast_run").excluding("fusion")
        register_mode(PYTHON_MODE, mode)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        _ = pytensor.config.blas__ldflags
