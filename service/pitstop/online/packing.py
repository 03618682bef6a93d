"""Variable-length byte strings built for a whole column at once, with numpy.

Every encoder of :mod:`pitstop.online.column_codec` produces, for n rows, one byte string per
row. Building them one by one in Python costs microseconds per value; here each piece of a
row's bytes is a ``Segment``: an (n, width) uint8 matrix and a mask of the bytes that are used.
Segments are laid side by side and the used bytes read out in row order, which gives the rows'
concatenations in one pass (:func:`concat`). The result is an Arrow binary array (offsets + one
data buffer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

Bytes = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Segment:
    """``matrix[i, :]`` holds row i's bytes where ``mask[i, :]`` is set, left to right."""

    matrix: Bytes
    mask: Mask


def constant(value: bytes, rows: int) -> Segment:
    """The same bytes on every row."""
    row = np.frombuffer(value, dtype=np.uint8)
    return Segment(
        np.broadcast_to(row, (rows, len(row))), np.ones((rows, len(row)), dtype=np.bool_)
    )


def where(segment: Segment, present: Mask) -> Segment:
    """``segment`` on the rows where ``present``, nothing on the others."""
    return Segment(segment.matrix, segment.mask & present[:, None])


def varint(values: npt.NDArray[np.int64]) -> Segment:
    """Protobuf base-128 varints of int64 values (negative ones take 10 bytes, as protobuf)."""
    unsigned = values.astype(np.int64).view(np.uint64)
    shifts = np.arange(10, dtype=np.uint64) * np.uint64(7)
    groups = ((unsigned[:, None] >> shifts[None, :]) & np.uint64(0x7F)).astype(np.uint8)
    length = np.ones(len(values), dtype=np.int64)
    for k in range(1, 10):
        length += unsigned >= np.uint64(1 << (7 * k))
    columns = np.arange(10)[None, :]
    groups |= np.where(columns < (length[:, None] - 1), np.uint8(0x80), np.uint8(0))
    return Segment(groups, columns < length[:, None])


def fixed(values: npt.NDArray[np.generic]) -> Segment:
    """Fixed-width little-endian bytes of a numeric column (e.g. float64 -> 8 bytes)."""
    little = values.astype(values.dtype.newbyteorder("<"), copy=False)
    matrix = np.ascontiguousarray(little).view(np.uint8).reshape(len(values), -1)
    return Segment(matrix, np.ones(matrix.shape, dtype=np.bool_))


def from_binary(array: pa.BinaryArray) -> Segment:
    """An Arrow binary column as a padded segment."""
    array = array.cast(pa.binary())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[
        array.offset : array.offset + len(array) + 1
    ].astype(np.int64)
    data = np.frombuffer(array.buffers()[2] or b"\0", dtype=np.uint8)
    lengths = np.diff(offsets)
    width = int(lengths.max(initial=0))
    columns = np.arange(width)[None, :]
    index = np.minimum(offsets[:-1, None] + columns, max(len(data) - 1, 0))
    matrix = data[index] if len(data) else np.zeros((len(array), width), dtype=np.uint8)
    return Segment(matrix, columns < lengths[:, None])


def lengths(segments: list[Segment]) -> npt.NDArray[np.int64]:
    """Each row's total length over ``segments``."""
    total = np.zeros(segments[0].mask.shape[0], dtype=np.int64)
    for segment in segments:
        total += segment.mask.sum(axis=1)
    return total


def concat_bytes(segments: list[Segment]) -> bytes:
    """All rows' bytes, row after row, each row its segments in order."""
    matrix = np.hstack([segment.matrix for segment in segments])
    mask = np.hstack([segment.mask for segment in segments])
    return bytes(matrix[mask].tobytes())


def concat(segments: list[Segment]) -> pa.BinaryArray:
    """One binary value per row: the concatenation of its segments."""
    row_lengths = lengths(segments)
    offsets = np.zeros(len(row_lengths) + 1, dtype=np.int64)
    np.cumsum(row_lengths, out=offsets[1:])
    data = concat_bytes(segments)
    return pa.Array.from_buffers(
        pa.large_binary(),
        len(row_lengths),
        [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)],
    ).cast(pa.binary())
