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

#: PyTensor mode for graphs whose heavy lifting is a Python Op (numpy/LAPACK, e.g. the
#: all-factor likelihood): numba would wrap such an Op in object mode, compiled afresh
#: in every process (~9 s), for no speed gain; Python thunks cost microseconds a call.
PYTHON_MODE = "HIERLMM_PY"


@functools.cache
def configure() -> None:
    """Resolve ``pytensor.config.blas__ldflags`` once without emitting the BLAS warning,
    and register :data:`PYTHON_MODE`."""
    import pytensor
    from pytensor.compile.mode import Mode, predefined_modes, register_mode

    if PYTHON_MODE not in predefined_modes:
        register_mode(PYTHON_MODE, Mode(linker="py", optimizer="fast_run"))

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        _ = pytensor.config.blas__ldflags
