"""The packed row of the SQLite layout, against the format written out by hand."""

from __future__ import annotations

import struct

import pyarrow as pa

from pitstop.online import packed_row


def test_a_row_is_its_end_offsets_then_its_values() -> None:
    values = [b"\x08\x01", b"", b"\x12\x03abc"]
    blob = packed_row.pack(values)
    assert blob == struct.pack("<3I", 2, 2, 7) + b"\x08\x01\x12\x03abc"
    assert packed_row.unpack(blob, 3) == values
    assert packed_row.pick(blob, 3, [2, -1, 1, 0]) == [b"\x12\x03abc", None, b"", b"\x08\x01"]
    assert packed_row.repack(blob, 3, [2, 0]) == struct.pack("<2I", 5, 7) + b"\x12\x03abc\x08\x01"


def test_a_column_packs_as_its_rows_do() -> None:
    columns = [
        pa.array([b"a", b"", b"ccc", b"dd"], pa.binary()),
        pa.array([b"", b"", b"", b""], pa.binary()),
        pa.array([b"x" * 300, b"y", b"", b"zz"], pa.binary()).slice(0),
    ]
    packed = packed_row.pack_column(columns).to_pylist()
    rows = [[column[row].as_py() for column in columns] for row in range(4)]
    assert packed == [packed_row.pack(row) for row in rows]
    assert [packed_row.unpack(blob, 3) for blob in packed] == rows


def test_a_sliced_column_packs_its_own_rows() -> None:
    column = pa.array([b"skip", b"one", b"two"], pa.binary()).slice(1)
    assert packed_row.pack_column([column]).to_pylist() == [
        packed_row.pack([b"one"]),
        packed_row.pack([b"two"]),
    ]


def test_a_layout_id_depends_on_the_names_and_their_order_only() -> None:
    first = packed_row.layout_id(("a", "b"))
    assert first == packed_row.layout_id(["a", "b"])
    assert first != packed_row.layout_id(("b", "a"))
    assert -(2**63) <= first < 2**63
    assert packed_row.features_of(packed_row.layout_text(("a", "b"))) == ("a", "b")
