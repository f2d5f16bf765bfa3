"""ATR/LIP label tables, the 7-part merge, body masks and clothes erasure (docs/conventions.md#parts)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ccreid.parsing import ATR, LIP, Part, body_mask, erase_clothes, get_schema, to_parts

# Written out from docs/conventions.md#parts, independently of the library's tables.
ATR_EXPECTED = {
    0: 0, 1: 1, 2: 1, 3: 1, 4: 2, 5: 3, 6: 3, 7: 4, 8: 3, 9: 6,
    10: 6, 11: 1, 12: 6, 13: 6, 14: 5, 15: 5, 16: 2, 17: 2,
}  # fmt: skip
LIP_EXPECTED = {
    0: 0, 1: 1, 2: 1, 3: 5, 4: 1, 5: 2, 6: 4, 7: 2, 8: 6, 9: 3,
    10: 4, 11: 2, 12: 3, 13: 1, 14: 5, 15: 5, 16: 6, 17: 6, 18: 6, 19: 6,
}  # fmt: skip


@pytest.mark.parametrize(("schema", "expected"), [(ATR, ATR_EXPECTED), (LIP, LIP_EXPECTED)])
def test_every_label_lands_in_its_part(schema, expected) -> None:
    labels = np.arange(schema.num_labels, dtype=np.uint8).reshape(1, -1)
    assert to_parts(labels, schema)[0].tolist() == [expected[i] for i in range(schema.num_labels)]


def test_atr_label_names_follow_the_parser_order() -> None:
    assert (
        ATR.labels[4] == "upper-clothes" and ATR.labels[16] == "bag" and ATR.labels[17] == "scarf"
    )
    assert LIP.labels[5] == "upper-clothes" and LIP.labels[19] == "right-shoe"


@pytest.mark.reliability(
    tried="labels outside the schema (e.g. LIP read as ATR)",
    happens="`ValueError` listing the labels",
)
def test_label_outside_schema_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"labels \[18, 19\] are outside the atr schema"):
        to_parts(np.array([[0, 18, 19]]), "atr")
    with pytest.raises(KeyError, match="unknown parsing schema"):
        get_schema("pascal")


def test_erasure_zeroes_exactly_tops_bottoms_dress_in_all_channels() -> None:
    parts = np.array(
        [
            [
                Part.BACKGROUND,
                Part.HEAD,
                Part.TOPS,
                Part.BOTTOMS,
                Part.DRESS,
                Part.ARM,
                Part.LOWER_LIMBS,
            ]
        ]
    )
    image = np.full((1, 7, 3), 200, dtype=np.uint8)
    erased = erase_clothes(image, parts)
    assert erased[0, :, 0].tolist() == [200, 200, 0, 0, 0, 200, 200]
    assert (erased[..., 0] == erased[..., 2]).all()
    assert image.min() == 200  # input untouched
    timg = torch.full((3, 1, 7), 200, dtype=torch.uint8)
    assert np.array_equal(
        erase_clothes(timg, torch.from_numpy(parts)).permute(1, 2, 0).numpy(), erased
    )


def test_body_mask_is_one_off_background() -> None:
    parts = np.array([[0, 1, 2, 6]])
    assert body_mask(parts).tolist() == [[0, 1, 1, 1]]
    assert body_mask(torch.tensor(parts)).tolist() == [[0, 1, 1, 1]]


def test_erasure_rejects_size_mismatch() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        erase_clothes(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8))
