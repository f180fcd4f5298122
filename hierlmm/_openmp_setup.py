"""Shorten GNU OpenMP's spin-wait before numba's parallel kernels load it.

numba runs hierlmm's parallel kernels (the quadrature engine's per-level integrals and
effect draws, the collapsed engine's sparse Gram products) on its OpenMP threading
layer, which on Linux is GNU OpenMP (libgomp). Between parallel regions libgomp's
threads spin before they sleep, by default ~300,000 iterations, and a sampler calls
such a kernel thousands of times. On a machine with a busy core (another notebook, a
browser, a second fit) the spinning threads take the cores from the work: a quadrature
fit (Poisson, 200 groups x 8, 4 x 1,000 draws, 2-core machine) took 36-46 s beside
one busy core against 5.8-5.9 s alone. With :data:`SPIN_COUNT` spins it took
13.0-13.8 s busy and 5.9-6.2 s alone; fully passive waits (``OMP_WAIT_POLICY=PASSIVE``)
10.3-10.7 s busy but 7.2-7.3 s alone.

libgomp reads its environment once, when it is loaded (numba's first parallel kernel),
so :func:`configure_openmp` sets ``GOMP_SPINCOUNT`` before that, and only when the user
set neither it nor ``OMP_WAIT_POLICY``. It is called with the PyTensor set-up
(:func:`hierlmm._pytensor_setup.configure`), where hierlmm first builds a model, not
when hierlmm is imported. Other OpenMP runtimes (LLVM's, Intel's) ignore it.
"""

from __future__ import annotations

import os

#: libgomp's spin iterations before a waiting thread sleeps (its default: 300,000)
SPIN_COUNT = "10000"
#: The variables by which a user chooses libgomp's waiting; hierlmm then sets nothing.
USER_CHOICES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def configure_openmp() -> None:
    """Set ``GOMP_SPINCOUNT`` to :data:`SPIN_COUNT` unless the user chose a wait policy.

    Without effect once libgomp is loaded in this process; inherited by subprocesses.
    """
    if not any(name in os.environ for name in USER_CHOICES):
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
