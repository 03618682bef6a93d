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


def unpack(blob: bytes, count: int) -> list[bytes]:
    """The ``count`` values of a row's blob, in layout order."""
    header = 4 * count
    values = []
    start = header
    for end in _ends(count).unpack_from(blob):
        values.append(blob[start : header + end])
        start = header + end
    return values


def pick(blob: bytes, count: int, slots: Sequence[int]) -> list[bytes | None]:
    """The values at ``slots`` of a row's blob of ``count`` values; a slot of -1 (a feature
    the row's layout lacks) gives None."""
    header = 4 * count
    ends = _ends(count).unpack_from(blob)
    return [
        None if slot < 0 else blob[header + (ends[slot - 1] if slot else 0) : header + ends[slot]]
        for slot in slots
    ]


def repack(blob: bytes, count: int, slots: Sequence[int]) -> bytes:
    """A row's blob of ``count`` values packed again with only the values at ``slots``."""
    values = unpack(blob, count)
    return pack([values[slot] for slot in slots])


def pack_column(values: Sequence[pa.BinaryArray]) -> pa.BinaryArray:
    """Every row's blob at once: ``values`` holds one binary column per feature, in layout
    order, each as many rows long (no nulls: a stored null is an empty value)."""
    rows = len(values[0]) if values else 0
    segments = [packing.from_binary(column) for column in values]
    ends = np.zeros((rows, len(values)), dtype="<u4")
    end = np.zeros(rows, dtype=np.int64)
    for index, segment in enumerate(segments):
        end += segment.mask.sum(axis=1)
        ends[:, index] = end
    header = packing.Segment(
        ends.view(np.uint8).reshape(rows, 4 * len(values)),
        np.ones((rows, 4 * len(values)), dtype=np.bool_),
    )
    return packing.concat([header, *segments])
