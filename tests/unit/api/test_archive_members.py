"""The archive's CSV lines: known answers for each field type, and back to the same row."""

from __future__ import annotations

import math

import numpy as np
import pytest

from peakline_api.archive import ArchiveFormatError
from peakline_api.archive.members import decode, decode_block, encode, header
from peakline_core.storage import Row


def test_an_energy_window_as_a_line_and_back() -> None:
    tags = {"site": "rt-school", "device": "m1", "flow": "import"}
    fields = {"kwh": 0.1 + 0.2, "estimated_kwh": 0, "suspect_kwh": 0.0, "covered_s": 60.0,
              "suspect_n": 0, "quality": "measured"}  # fmt: skip
    cells = encode("energy", tags, 1_764_504_000_000_000_000, fields)
    assert cells == ["1764504000000000000", "rt-school", "m1", "import",
                     "0.30000000000000004", "0.0", "0.0", "60.0", "0", "measured", ""]  # fmt: skip
    row = decode("energy", header("energy"), cells)
    assert row == Row("energy", tags, {**fields, "estimated_kwh": 0.0}, 1_764_504_000_000_000_000)
    assert type(row.fields["suspect_n"]) is int and type(row.fields["estimated_kwh"]) is float


def test_text_with_commas_absent_fields_and_nan() -> None:
    cells = encode("reading", {"site": "s", "device": "d", "point": "p"}, 5,
                   {"value": float("nan"), "text": "a,b\n\"c\"", "quality": 2})  # fmt: skip
    assert cells == ["5", "s", "d", "p", "", 'a,b\n"c"', "2"]
    assert decode("reading", header("reading"), cells).fields == {"text": 'a,b\n"c"', "quality": 2}


def test_a_bad_cell_is_refused() -> None:
    cells = ["5", "s", "d", "p", "x1", "", "0"]
    with pytest.raises(ArchiveFormatError, match=r"series/reading\.csv"):
        decode("reading", header("reading"), cells)
    with pytest.raises(ArchiveFormatError, match="cells"):
        decode("reading", header("reading"), cells[:3])


def test_a_block_holds_what_the_lines_say() -> None:
    lines = [
        ["60", "s1", "m", "import", "0.5", "", "0.0", "60.0", "0", "measured", ""],
        ["0", "s2", "m", "import", "1e-05", "0.25", "0.0", "30.0", "1", "imported", "f.csv:2"],
        ["120", "s1", "m", "import", "", "", "", "", "2", "suspect", ""],
    ]
    block = decode_block("energy", header("energy"), lines)
    assert block is not None
    assert list(block.series) == [{"site": "s1", "device": "m", "flow": "import"},
                                  {"site": "s2", "device": "m", "flow": "import"}]  # fmt: skip
    assert block.series_index.tolist() == [0, 1, 0] and block.ts.tolist() == [60, 0, 120]
    assert block.fields["kwh"][:2].tolist() == [0.5, 1e-05] and math.isnan(block.fields["kwh"][2])
    assert block.fields["suspect_n"].dtype == np.int64
    assert block.fields["source"].tolist() == [None, "f.csv:2", None]
    for i, cells in enumerate(lines):  # the same points as line by line
        row = decode("energy", header("energy"), cells)
        got = {k: v[i] for k, v in block.fields.items() if v[i] is not None and v[i] == v[i]}
        assert got == row.fields


def test_a_block_cannot_say_an_int_is_absent() -> None:
    lines = [["1", "s", "d", "p", "1.0", "", "0"], ["2", "s", "d", "p", "2.0", "", ""]]
    assert decode_block("reading", header("reading"), lines) is None
