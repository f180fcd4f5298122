"""Packing model inputs into one data container per dtype (hierlmm.model.packing)."""

import numpy as np
import pytensor
import pytest

from hierlmm.model.packing import pack, pack_layout, unpack


def _inputs():
    rng = np.random.default_rng(3)
    return {"X": rng.normal(size=(5, 3)), "codes": np.array([0, 1, 1, 2, 0], dtype=np.int32),
            "y": rng.normal(size=5), "scale": np.array(2.5)}


def test_pack_unpack_round_trip_with_static_shapes() -> None:
    inputs = _inputs()
    layout = pack_layout(inputs)
    packed = pack(inputs, layout)
    assert sorted(packed) == ["packed_float64", "packed_int32"]
    assert packed["packed_float64"].shape == (15 + 5 + 1,)
    shared = {k: pytensor.shared(v, name=k) for k, v in packed.items()}
    views = unpack(shared, layout)
    assert views["X"].type.shape == (5, 3) and views["codes"].type.shape == (5,)
    values = pytensor.function([], list(views.values()))()
    for name, value in zip(views, values, strict=True):
        np.testing.assert_array_equal(value, inputs[name])
        assert value.dtype == inputs[name].dtype


def test_pack_rejects_inputs_of_another_layout() -> None:
    inputs = _inputs()
    layout = pack_layout(inputs)
    with pytest.raises(ValueError, match="'y'"):
        pack({**inputs, "y": np.zeros(6)}, layout)
