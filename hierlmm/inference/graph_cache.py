"""Disk cache of rewritten PyTensor graphs, so a new process skips the graph rewrites.

Compiling a log-density has two costs: PyTensor's graph rewrites (seconds: about 4 s of
the 7.5 s a fresh process spends compiling the sleepstudy model here, 70% of the AR(1)
model's 19 s) and linking the rewritten graph to machine code (numba's own disk cache
makes that fast after the first time). The in-process cache of
:func:`hierlmm.inference.samplers.compiled_model` avoids both within one process; this
module avoids the rewrites across processes (a user's second run, the CLI, each test
worker, each notebook kernel).

After a compile, the rewritten graph's inputs and outputs are pickled under a digest of
the model's structure key, the versions of the packages that shape the graph, and the
source of hierlmm itself. On a hit the pickled graph is loaded, its shared variables
(the model's data containers) are replaced by the current model's containers of the same
name, and it is compiled with no rewriting. Anything unexpected (no cache directory, an
unpicklable Op, a damaged file, names that do not match) falls back to a normal compile:
the cache can make compiling faster, never different.

The cache lives in ``hierlmm-graphs`` under PyTensor's compile directory
(``pytensor.config.compiledir``), next to the compiled code it complements, so deleting
that directory clears both. ``HIERLMM_GRAPH_CACHE=0`` switches it off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from collections.abc import Sequence
from functools import cache
from importlib import import_module
from pathlib import Path

import pytensor
from pytensor.compile.mode import Mode, get_mode
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph import clone_replace
from pytensor.graph.traversal import ancestors

from hierlmm import _pytensor_setup
from hierlmm._pytensor_setup import write_atomically

MAX_BYTES = 32 * 2**20  # graphs that embed large arrays (e.g. all-factor blocks) are not kept
_VERSIONED = ("pytensor", "pymc", "numba", "numpy", "scipy")
STATS = {"hits": 0, "stores": 0, "fallbacks": 0}  # fallbacks: a file existed but did not load


def enabled() -> bool:
    """False when ``HIERLMM_GRAPH_CACHE`` is ``0``/``false``/``no``/``off``."""
    return os.environ.get("HIERLMM_GRAPH_CACHE", "1").lower() not in {"0", "false", "no", "off"}


def cache_dir() -> Path:
    """``<pytensor compiledir>/hierlmm-graphs``."""
    return _pytensor_setup.cache_dir(pytensor.config)


@cache
def _environment_digest() -> str:
    """Versions of Python and the graph-shaping packages, and a hash of hierlmm's source."""
    h = hashlib.sha256(sys.version.encode())
    for name in _VERSIONED:  # importlib.metadata scans site-packages: seconds, so __version__
        h.update(f"{name}={import_module(name).__version__};".encode())
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def digest(key: object, mode: str) -> str:
    """File stem of ``key``'s graph: ``repr(key)``, ``mode``, PyTensor's ``floatX`` and
    ``PYTENSOR_FLAGS``, and the environment."""
    flags = f"{pytensor.config.floatX}|{os.environ.get('PYTENSOR_FLAGS', '')}"
    text = f"{_environment_digest()}|{flags}|{mode}|{key!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _shared_by_name(outputs: Sequence) -> dict[str, SharedVariable] | None:
    """The graph's shared variables by name; None when a name is missing or repeated."""
    shared = [v for v in ancestors(outputs) if isinstance(v, SharedVariable)]
    names = {v.name for v in shared}
    if None in names or len(names) != len(shared):
        return None
    return {v.name: v for v in shared}


def model_shared(model) -> dict[str, SharedVariable]:
    """The shared variables a model's graphs may read: data containers and dim lengths."""
    found = [*model.data_vars, *model.dim_lengths.values()]
    return {v.name: v for v in found if isinstance(v, SharedVariable) and v.name}


def _path(key: object, mode: str) -> Path:
    return cache_dir() / f"{digest(key, mode)}.pkl"


def _bind(graph: tuple[list, list], shared: dict[str, SharedVariable], mode: str):
    """Compile a pickled ``(inputs, outputs)`` on ``shared`` without rewriting it."""
    inputs, outputs = graph
    loaded = _shared_by_name(outputs)
    if loaded is None or not set(loaded) <= set(shared):  # rewrites drop unused ones
        raise LookupError("the cached graph reads data the model does not have")
    bound = clone_replace(outputs, {v: shared[name] for name, v in loaded.items()})
    no_rewrites = Mode(linker=get_mode(mode).linker, optimizer=None)
    return pytensor.function(inputs, bound, mode=no_rewrites, accept_inplace=True,
                             on_unused_input="ignore")


def load(key: object, mode: str, shared: dict[str, SharedVariable]):
    """The functions and metadata stored under ``key``, bound to ``shared``; or None.

    Parameters
    ----------
    key : object
        Everything the graphs' structure depends on (its ``repr`` is hashed).
    mode : str
        PyTensor compile mode, e.g. ``"NUMBA"``.
    shared : dict of str to SharedVariable
        The current model's data containers (:func:`model_shared`), by name.

    Returns
    -------
    (list of pytensor Function, dict) or None
        None when caching is off, nothing is stored, or the file does not load.
    """
    path = _path(key, mode)
    if not enabled() or not path.exists():
        return None
    try:
        graphs, meta = pickle.loads(path.read_bytes())
        functions = [_bind(graph, shared, mode) for graph in graphs]
    except Exception:  # a damaged or incompatible file: the caller compiles and overwrites
        STATS["fallbacks"] += 1
        return None
    STATS["hits"] += 1
    return functions, meta


def store(key: object, mode: str, functions: Sequence, meta: dict) -> None:
    """Keep the rewritten graphs of compiled ``functions`` (and ``meta``) under ``key``.

    Does nothing when caching is off, an Op does not pickle, the graphs embed more than
    :data:`MAX_BYTES` or the directory is not writable.
    """
    if not enabled():
        return
    graphs = []
    for function in functions:
        graph = function.maker.fgraph
        inputs = [v for v in graph.inputs if not isinstance(v, SharedVariable)]
        graphs.append((inputs, list(graph.outputs)))
    try:
        blob = pickle.dumps((graphs, meta), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an Op that does not pickle: this model is not cached
        return
    if len(blob) > MAX_BYTES:
        return
    if write_atomically(_path(key, mode), blob):
        STATS["stores"] += 1


