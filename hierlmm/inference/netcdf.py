"""The on-disk layout of a saved fit: one netCDF-4 file written through ``h5netcdf``.

No pickle is involved. The file holds

- every group of ``Fit.idata`` (``posterior``, ``sample_stats``, ``log_likelihood``,
  ``observed_data``) as it is;
- a group ``design_data`` holding the raw data columns the model used, one variable per
  column along the dimension ``design_row`` (strings as strings, integers, floats and
  booleans with their dtype, categoricals as strings plus their category order);
- root attributes ``hierlmm_*``: the spec, engine, sampler, seed, timings and settings
  (JSON where they are not plain scalars), and ``hierlmm_run_id`` when the writer gave
  one (the CLI does, and writes the same id into summary.json).

This module encodes and decodes those pieces and writes the file. It reads a fit only
through its attributes and never imports the :class:`~hierlmm.inference.result.Fit`
class, so ``Fit.save`` can call :func:`write_fit` directly; loading, which builds a
``Fit``, lives in :mod:`hierlmm.inference.io`.
"""

from __future__ import annotations

import json
import os
import uuid
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import xarray as xr
from pandas.api import types as ptypes

from hierlmm.design.design import Design
from hierlmm.errors import FitError
from hierlmm.spec.schema import ModelSpec

FORMAT = "hierlmm-fit"
FORMAT_VERSION = 1
DESIGN_GROUP = "design_data"
ROW_DIM = "design_row"
PREFIX = "hierlmm_"
RUN_ID_ATTR = f"{PREFIX}run_id"
NETCDF_ENGINE = "h5netcdf"


class FitRecord(Protocol):
    """What the writer reads from a fit: the fields of :class:`~hierlmm.inference.result.Fit`."""

    idata: xr.DataTree
    spec: ModelSpec
    design: Design
    engine: str
    sampler: str
    seed: int
    timings: dict[str, float]
    settings: dict[str, Any]


def _package_version() -> str:
    try:
        return version("hierlmm")
    except PackageNotFoundError:  # pragma: no cover - source checkout without install
        return "unknown"


# ----------------------------------------------------------------------------- columns
def _encode_column(series: pd.Series) -> tuple[np.ndarray, dict[str, Any]]:
    """One data column as a netCDF-ready array and the attributes needed to restore it.

    Returns
    -------
    values : ndarray, shape (n,)
        bool, int, float, datetime64 or unicode.
    attrs : dict
        ``hierlmm_kind`` and, for categoricals, ``hierlmm_categories`` (JSON list of
        labels in category order) and ``hierlmm_ordered``.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = [str(c) for c in dtype.categories]
        attrs = {
            f"{PREFIX}kind": "category",
            f"{PREFIX}categories": json.dumps(categories),
            f"{PREFIX}ordered": int(bool(dtype.ordered)),
        }
        return series.astype(str).to_numpy(dtype=str), attrs
    if ptypes.is_bool_dtype(dtype):
        return series.to_numpy(dtype=bool), {f"{PREFIX}kind": "bool"}
    if ptypes.is_integer_dtype(dtype):
        target = dtype if isinstance(dtype, np.dtype) else np.dtype(np.int64)
        return series.to_numpy(dtype=target), {f"{PREFIX}kind": "int"}
    if ptypes.is_float_dtype(dtype):
        target = dtype if isinstance(dtype, np.dtype) else np.dtype(np.float64)
        return series.to_numpy(dtype=target), {f"{PREFIX}kind": "float"}
    if ptypes.is_datetime64_dtype(dtype):
        return series.to_numpy(), {f"{PREFIX}kind": "datetime"}
    inferred = ptypes.infer_dtype(series, skipna=True)
    if inferred == "integer":
        return series.to_numpy(dtype=np.int64), {f"{PREFIX}kind": "int"}
    if inferred in ("floating", "mixed-integer-float"):
        return series.to_numpy(dtype=np.float64), {f"{PREFIX}kind": "float"}
    if inferred == "boolean":
        return series.to_numpy(dtype=bool), {f"{PREFIX}kind": "bool"}
    return series.astype(str).to_numpy(dtype=str), {f"{PREFIX}kind": "str"}


def _decode_column(variable: xr.DataArray) -> pd.Series:
    """Inverse of :func:`_encode_column`; strings come back with pandas' string dtype."""
    kind = variable.attrs.get(f"{PREFIX}kind", "")
    values = variable.values
    if kind == "category":
        categories = json.loads(variable.attrs[f"{PREFIX}categories"])
        ordered = bool(variable.attrs.get(f"{PREFIX}ordered", 0))
        return pd.Series(pd.Categorical(values.astype(str), categories, ordered=ordered))
    if kind == "str":
        return pd.Series(values.astype(str), dtype="str")
    return pd.Series(values)


def design_data_dataset(data: pd.DataFrame) -> xr.Dataset:
    """The used raw columns as an ``xarray.Dataset`` with one variable per column.

    Parameters
    ----------
    data : pandas.DataFrame, shape (n, k)
        ``Design.data``.

    Returns
    -------
    xarray.Dataset
        Variables named after the columns, each with dims ``(design_row,)``; the column
        order is stored as the JSON attribute ``hierlmm_columns``.
    """
    variables = {}
    columns = [str(c) for c in data.columns]
    for name, column in zip(columns, data.columns, strict=True):
        if "/" in name or name == ROW_DIM:
            raise FitError(
                f"column {name!r} cannot be stored in a netCDF file (a name may not contain "
                f"'/' or be {ROW_DIM!r}); rename the column and fit again"
            )
        values, attrs = _encode_column(data[column])
        variables[name] = xr.Variable((ROW_DIM,), values, attrs=attrs)
    return xr.Dataset(variables, attrs={f"{PREFIX}columns": json.dumps(columns)})


def design_data_frame(dataset: xr.Dataset) -> pd.DataFrame:
    """Inverse of :func:`design_data_dataset`: the columns in their original order."""
    columns = json.loads(dataset.attrs[f"{PREFIX}columns"])
    frame = pd.DataFrame({c: _decode_column(dataset[c]) for c in columns})
    frame.columns = pd.Index(columns, dtype=object)  # as build_design's column selection
    return frame


# ----------------------------------------------------------------------- object arrays
def _encode_objects(dataset: xr.Dataset) -> tuple[xr.Dataset, list[str]]:
    """Turn object-dtype variables into strings; return the names that held ``None``/NaN.

    netCDF cannot store Python objects; sampler statistics such as nutpie's
    ``divergence_message`` are strings or ``None``.
    """
    with_none = []
    updates = {}
    for name, variable in dataset.variables.items():
        if variable.dtype != object:
            continue
        flat = variable.values.reshape(-1)
        missing = pd.isna(flat)  # None, or NaN (xarray stores None as NaN in places)
        text = np.array(["" if m else str(v) for v, m in zip(flat, missing, strict=True)])
        has_none = bool(missing.any())
        updates[name] = variable.copy(data=text.reshape(variable.shape))
        if has_none:
            with_none.append(str(name))
    if not updates:
        return dataset, with_none
    dataset = dataset.copy()
    for name, variable in updates.items():
        if name in dataset.coords:
            dataset = dataset.assign_coords({name: variable})
        else:
            dataset[name] = variable
    return dataset, with_none


def decode_objects(dataset: xr.Dataset, with_none: list[str]) -> xr.Dataset:
    """Unicode arrays back to object dtype (as fits hold them); ``""`` -> ``None`` where noted.

    Missing entries were ``None`` or NaN; xarray treats both as null when comparing.
    """
    updates = {}
    for name, variable in dataset.variables.items():
        if variable.dtype.kind != "U":
            continue
        values = variable.values.astype(object)
        if name in with_none:
            values[values == ""] = None
        updates[name] = variable.copy(data=values)
    for name, variable in updates.items():
        if name in dataset.coords:
            dataset = dataset.assign_coords({name: variable})
        else:
            dataset[name] = variable
    return dataset


def _clean_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes netCDF can store: str, numbers, lists of them; anything else as JSON."""
    out = {}
    for key, value in attrs.items():
        plain = isinstance(value, str | int | float | np.number) and not isinstance(value, bool)
        listed = isinstance(value, list | tuple) and all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
        )
        out[str(key)] = value if plain or (listed and value) else json.dumps(value, default=str)
    return out


# ------------------------------------------------------------------------------- save
def _root_attrs(fit: FitRecord, object_vars: dict[str, list[str]]) -> dict[str, Any]:
    return {
        f"{PREFIX}format": FORMAT,
        f"{PREFIX}format_version": FORMAT_VERSION,
        f"{PREFIX}version": _package_version(),
        f"{PREFIX}spec": json.dumps(fit.spec.to_dict()),
        f"{PREFIX}engine": str(fit.engine),
        f"{PREFIX}sampler": str(fit.sampler),
        f"{PREFIX}seed": int(fit.seed),
        f"{PREFIX}timings": json.dumps({k: float(v) for k, v in fit.timings.items()}),
        f"{PREFIX}settings": json.dumps(fit.settings),
        f"{PREFIX}n_dropped": int(fit.design.n_dropped),
        # the stored response is already coded 0/1: keep the label that counts as 1
        f"{PREFIX}event_label": json.dumps(fit.design.event_label),
        f"{PREFIX}object_vars": json.dumps(object_vars),
    }


def _tree_to_write(fit: FitRecord) -> xr.DataTree:
    """The fit's DataTree plus ``design_data`` and the ``hierlmm_*`` root attributes."""
    groups: dict[str, xr.Dataset] = {}
    object_vars: dict[str, list[str]] = {}
    for path, dataset in fit.idata.to_dict().items():
        if path.strip("/") == DESIGN_GROUP:
            raise FitError(f"the fit's DataTree already has a group {DESIGN_GROUP!r}")
        encoded, with_none = _encode_objects(dataset)
        groups[path] = encoded.assign_attrs(_clean_attrs(dict(dataset.attrs)))
        if with_none:
            object_vars[path] = with_none
    root = groups.get("/", xr.Dataset())
    root_attrs = {k: v for k, v in root.attrs.items() if not k.startswith(PREFIX)}
    root_attrs.update(_root_attrs(fit, object_vars))
    groups["/"] = root.drop_attrs(deep=False).assign_attrs(root_attrs)
    groups[f"/{DESIGN_GROUP}"] = design_data_dataset(fit.design.data)
    return xr.DataTree.from_dict(groups)


def write_fit(
    fit: FitRecord, path: str | os.PathLike[str], *, run_id: str | None = None
) -> Path:
    """Write ``fit`` to one netCDF file (h5netcdf engine, no pickle).

    The file is written under a unique temporary name in the same folder and renamed
    into place, so a concurrent save or an interrupt never leaves a partial file there.

    Parameters
    ----------
    fit : Fit or FitRecord
    path : str or path-like
        Target file, conventionally ``*.nc``; an existing file is replaced. Its folder
        must exist.
    run_id : str, optional
        Id of the run that made the fit, stored as the ``hierlmm_run_id`` attribute
        (the CLI writes the same id into summary.json).

    Returns
    -------
    pathlib.Path
        The absolute path written.

    Raises
    ------
    FitError
        If the folder does not exist or the file cannot be written.
    """
    target = Path(path).expanduser().resolve()
    if not target.parent.is_dir():
        raise FitError(f"cannot save the fit to {target}: folder {target.parent} does not exist")
    tree = _tree_to_write(fit)
    if run_id is not None:
        tree.attrs[RUN_ID_ATTR] = str(run_id)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        tree.to_netcdf(partial, engine=NETCDF_ENGINE)
        os.replace(partial, target)
    except OSError as exc:
        raise FitError(f"cannot write the fit to {target}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)  # after os.replace there is nothing to remove
    return target
