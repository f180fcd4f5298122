"""Save a :class:`~hierlmm.inference.result.Fit` to one netCDF file and load it back.

The file layout is described in :mod:`hierlmm.inference.netcdf`, which writes it.
Loading re-encodes the design from ``design_data`` with
:func:`hierlmm.design.build_design` and checks it against the stored posterior (response,
fixed-effect names, level labels), so a loaded fit behaves exactly like the original.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import h5netcdf
import numpy as np
import xarray as xr

from hierlmm.design import build_design
from hierlmm.design.design import Design
from hierlmm.errors import FitError, HierlmmError
from hierlmm.inference.netcdf import (
    DESIGN_GROUP,
    FORMAT,
    FORMAT_VERSION,
    NETCDF_ENGINE,
    PREFIX,
    RUN_ID_ATTR,
    decode_objects,
    design_data_frame,
    write_fit,
)
from hierlmm.inference.result import Fit
from hierlmm.model import names
from hierlmm.options import Engine as EngineName
from hierlmm.options import Sampler, allowed
from hierlmm.spec.schema import ModelSpec


# ------------------------------------------------------------------------------- save
def save_fit(fit: Fit, path: str | os.PathLike[str], *, run_id: str | None = None) -> Path:
    """Write ``fit`` to one netCDF file; see :func:`hierlmm.inference.netcdf.write_fit`.

    Raises
    ------
    FitError
        If ``fit`` is not a Fit, the folder does not exist or the file cannot be written.
    """
    if not isinstance(fit, Fit):
        raise FitError(f"save_fit() takes a hierlmm Fit, got {type(fit).__name__}")
    return write_fit(fit, path, run_id=run_id)


# ------------------------------------------------------------------------------- load
def saved_run_id(path: str | os.PathLike[str]) -> str | None:
    """The run id stored in a saved fit (``hierlmm_run_id``), or None if it has none.

    Raises
    ------
    FitError
        If the file cannot be read as netCDF.
    """
    try:
        with h5netcdf.File(Path(path), "r") as handle:
            value = handle.attrs.get(RUN_ID_ATTR)
    except (OSError, ValueError) as exc:
        raise FitError(f"cannot read {path}: {exc}") from exc
    return None if value is None else str(value)


def _read_tree(path: Path) -> xr.DataTree:
    if not path.is_file():
        raise FitError(f"no saved fit at {path}; check the path (fits are saved by Fit.save)")
    try:
        return xr.load_datatree(path, engine=NETCDF_ENGINE)
    except (OSError, ValueError, TypeError) as exc:
        raise FitError(
            f"{path} is not a netCDF file written by hierlmm (could not read it: "
            f"{type(exc).__name__}); pass a file saved with Fit.save"
        ) from exc


def _check_format(attrs: dict[str, Any], path: Path) -> None:
    if attrs.get(f"{PREFIX}format") != FORMAT:
        raise FitError(
            f"{path} is a netCDF file but not a saved hierlmm fit (no {PREFIX}format="
            f"{FORMAT!r} attribute); pass a file saved with Fit.save"
        )
    stored = int(attrs.get(f"{PREFIX}format_version", 0))
    if stored > FORMAT_VERSION:
        raise FitError(
            f"{path} was written by a newer hierlmm (file format {stored}, this version reads "
            f"up to {FORMAT_VERSION}); upgrade hierlmm"
        )


def _check_design(design: Design, idata: xr.DataTree, path: Path) -> None:
    """Raise :class:`FitError` if the re-encoded design disagrees with the stored fit."""
    problem = None
    if "observed_data" not in idata.children:
        problem = "it has no observed_data group"
    else:
        stored_y = idata["observed_data"].to_dataset()[names.RESPONSE].values
        if stored_y.shape != design.y.shape or not np.array_equal(stored_y, design.y):
            problem = "the response re-encoded from design_data differs from observed_data"
    posterior = idata["posterior"].to_dataset() if "posterior" in idata.children else None
    if problem is None and posterior is not None:
        coords = {names.FIXED_DIM: design.fixed_names}
        coords.update({names.level_dim(g.factor): g.levels for g in design.groups})
        for dim, expected in coords.items():
            if dim in posterior.coords and tuple(map(str, posterior[dim].values)) != expected:
                problem = f"the re-encoded {dim!r} labels differ from the posterior's"
                break
    if problem is not None:
        raise FitError(f"{path} is inconsistent: {problem}; the file is damaged or was edited")


def _check_fields(fields: dict[str, Any], path: Path) -> None:
    """Raise :class:`FitError` if a stored engine, sampler, timings or settings is invalid."""
    engines = tuple(e for e in allowed(EngineName) if e != "auto")
    problem = None
    if fields["engine"] not in engines:
        problem = f"engine {fields['engine']!r} is not one of {', '.join(engines)}"
    elif fields["sampler"] not in allowed(Sampler):
        problem = f"sampler {fields['sampler']!r} is not one of {', '.join(allowed(Sampler))}"
    elif not isinstance(fields["timings"], dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for v in fields["timings"].values()
    ):
        problem = "timings must map names to finite non-negative seconds"
    elif not isinstance(fields["settings"], dict):
        problem = "settings must be a JSON object"
    if problem is not None:
        raise FitError(f"{path} is damaged: {PREFIX}{problem}")


def _split_tree(tree: xr.DataTree) -> tuple[xr.DataTree, xr.Dataset, dict[str, Any]]:
    """Separate the fit's own groups, ``design_data`` and the ``hierlmm_*`` attributes."""
    attrs = dict(tree.attrs)
    object_vars = json.loads(attrs.get(f"{PREFIX}object_vars", "{}"))
    groups = {}
    for path, dataset in tree.to_dict().items():
        if path.strip("/") == DESIGN_GROUP:
            continue
        groups[path] = decode_objects(dataset, object_vars.get(path, []))
    groups["/"] = groups["/"].drop_attrs(deep=False).assign_attrs(
        {k: v for k, v in attrs.items() if not k.startswith(PREFIX)}
    )
    return xr.DataTree.from_dict(groups), tree[DESIGN_GROUP].to_dataset(), attrs


def load_fit(path: str | os.PathLike[str]) -> Fit:
    """Load a fit written by :func:`save_fit` (``Fit.save``).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Fit
        Same posterior, spec, engine, sampler, seed, timings and settings as the saved
        fit; the design is re-encoded from the stored data.

    Raises
    ------
    FitError
        If the file does not exist, is not a hierlmm fit, or its stored data no longer
        encode to the stored response and labels.

    Examples
    --------
    >>> import tempfile, pathlib, hierlmm
    >>> path = fit.save(pathlib.Path(tempfile.mkdtemp()) / "fit.nc")
    >>> loaded = hierlmm.load(path)
    >>> loaded.spec == fit.spec and loaded.fixef().equals(fit.fixef())
    True
    """
    path = Path(path).expanduser().resolve()
    tree = _read_tree(path)
    _check_format(dict(tree.attrs), path)
    for group in (DESIGN_GROUP, "posterior"):
        if group not in tree.children:
            raise FitError(f"{path} has no {group!r} group; the file is damaged")
    try:
        idata, data_ds, attrs = _split_tree(tree)
        spec = ModelSpec.from_dict(json.loads(attrs[f"{PREFIX}spec"]))
        frame = design_data_frame(data_ds)
        fields = {
            "engine": str(attrs[f"{PREFIX}engine"]),
            "sampler": str(attrs[f"{PREFIX}sampler"]),
            "seed": int(attrs[f"{PREFIX}seed"]),
            "timings": json.loads(attrs[f"{PREFIX}timings"]),
            "settings": json.loads(attrs[f"{PREFIX}settings"]),
        }
    except (KeyError, ValueError, TypeError) as exc:
        raise FitError(
            f"{path} is damaged: cannot read {exc.args[0] if exc.args else exc!s}"
        ) from exc
    _check_fields(fields, path)
    try:
        design = build_design(spec, frame, na_action="raise")
    except HierlmmError as exc:
        raise FitError(f"cannot re-encode the data stored in {path}: {exc}") from exc
    design = replace(design, n_dropped=int(attrs.get(f"{PREFIX}n_dropped", 0)),
                     event_label=json.loads(attrs.get(f"{PREFIX}event_label", "null")))
    _check_design(design, idata, path)
    return Fit(idata=idata, spec=spec, design=design, **fields)
