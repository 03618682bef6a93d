"""The packed values of one entity's row in pitstop's SQLite layout (docs/architecture.md §1,
"The online layout").

A row holds its features' values as one blob and names them by a *layout*: the ordered
feature names, kept once per file in the table :data:`LAYOUTS` under a 64-bit id derived from
the names (:func:`layout_id`; the same names give the same id in every file). The blob of n
values is n little-endian uint32 end offsets, then the values' bytes (Feast ``ValueProto``
serializations) one after the other::

    end_0 end_1 ... end_{n-1} | value_0 value_1 ... value_{n-1}

Value i is ``body[end_{i-1}:end_i]`` (``end_{-1}`` = 0). An empty value is a stored null (an
empty ``ValueProto``); a feature missing from the layout was never written. One blob per row
is what lets SQLite write a row as four parameters instead of one per feature (the per-value
binding is what bounded issue 6's materialization: docs/benchmarks.md).

In Redis a row is one hash field and carries its event time and layout in front of the blob,
as a *headed* row: ``event_us int64 | layout int64 | blob`` (little-endian, :data:`HEAD`), so
a write compares event times and a read finds the layout without another field.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa

from pitstop.online import packing

# The table of layouts in every SQLite online store file; the colon keeps it apart from every
# table Feast or pitstop names after a project and a view.
LAYOUTS = "pitstop:layouts"
# A headed row's first 16 bytes: event time (epoch microseconds) and layout id.
HEAD = struct.Struct("<qq")


def layout_id(features: Sequence[str]) -> int:
    """The layout's id: the first 8 bytes of a BLAKE2b hash of its names, a signed int64."""
    digest = hashlib.blake2b(layout_text(features).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def layout_text(features: Sequence[str]) -> str:
    """The layout as its table stores it: a JSON list of the names."""
    return json.dumps(list(features), separators=(",", ":"))


def features_of(text: str) -> tuple[str, ...]:
    """The names of a stored layout."""
    return tuple(json.loads(text))


@lru_cache(maxsize=256)
def _ends(count: int) -> struct.Struct:
    return struct.Struct(f"<{count}I")


def pack(values: Sequence[bytes]) -> bytes:
    """One row's blob."""
    ends = []
    end = 0
    for value in values:
        end += len(value)
        ends.append(end)
    return _ends(len(values)).pack(*ends) + b"".join(values)


def headed(event_us: int, layout: int, blob: bytes) -> bytes:
    """A Redis row: the head, then the blob."""
    return HEAD.pack(event_us, layout) + blob


def unpack(blob: bytes, count: int, offset: int = 0) -> list[bytes]:
    """The ``count`` values of a row's blob (starting at ``offset``), in layout order."""
    header = offset + 4 * count
    values = []
    start = header
    for end in _ends(count).unpack_from(blob, offset):
        values.append(blob[start : header + end])
        start = header + end
    return values


def pick(blob: bytes, count: int, slots: Sequence[int], offset: int = 0) -> list[bytes | None]:
    """The values at ``slots`` of a row's blob of ``count`` values (starting at ``offset``); a
    slot of -1 (a feature the row's layout lacks) gives None."""
    header = offset + 4 * count
    ends = _ends(count).unpack_from(blob, offset)
    return [
        None if slot < 0 else blob[header + (ends[slot - 1] if slot else 0) : header + ends[slot]]
        for slot in slots
    ]


def repack(blob: bytes, count: int, slots: Sequence[int]) -> bytes:
    """A row's blob of ``count`` values packed again with only the values at ``slots``."""
    values = unpack(blob, count)
    return pack([values[slot] for slot in slots])


def pack_column(
    values: Sequence[pa.BinaryArray],
    head: tuple[np.ndarray[tuple[int], np.dtype[np.int64]], int] | None = None,
) -> pa.BinaryArray:
    """Every row's blob at once: ``values`` holds one binary column per feature, in layout
    order, each as many rows long (no nulls: a stored null is an empty value). ``head``: each
    row's event time (epoch microseconds) and the layout id, for headed rows (Redis)."""
    rows = len(values[0]) if values else 0
    segments = [packing.from_binary(column) for column in values]
    if head is not None:
        event_us, layout = head
        heads = np.empty(rows, dtype=[("event_us", "<i8"), ("layout", "<i8")])
        heads["event_us"], heads["layout"] = event_us, layout
        matrix = heads.view(np.uint8).reshape(rows, HEAD.size)
        segments.insert(0, packing.Segment(matrix, np.ones(matrix.shape, dtype=np.bool_)))
    ends = np.zeros((rows, len(values)), dtype="<u4")
    end = np.zeros(rows, dtype=np.int64)
    features = segments[len(segments) - len(values) :]
    for index, segment in enumerate(features):
        end += segment.mask.sum(axis=1)
        ends[:, index] = end
    header = packing.Segment(
        ends.view(np.uint8).reshape(rows, 4 * len(values)),
        np.ones((rows, 4 * len(values)), dtype=np.bool_),
    )
    return packing.concat([*segments[: len(segments) - len(values)], header, *features])
