"""Event columns to JSON lines, without a Python loop per line.

Lines are put together by Arrow's string kernels from columns rendered whole: fixed-width text
(ids, timestamps) is built as bytes in numpy, numbers are cast by Arrow, and an optional field is
a null piece that the join leaves out. A line looks like (keys always in this order, absent
optional fields left out, price with two decimals):

    {"event_id":"e3f9c2…","event_type":"purchase","user_id":42,"ts":"2026-01-05T13:04:05.123Z",
     "session_id":"s81d0…","item_id":7,"price":12.50,"quantity":2,"device":"mobile","country":"DE"}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pitstop.generator import vocab
from pitstop.generator.behaviour import NO_ITEM, NO_PRICE, NO_SESSION, QUANTITY_OMITTED, EventBatch

# Arrow strings have 32-bit offsets (2 GiB a chunk); a million ~200-byte lines stay well below.
RENDER_CHUNK_ROWS = 1_000_000

# The two hex digits of each byte value, two ASCII bytes packed in one uint16 so a lookup
# moves both at once.
_HEX_PAIRS = np.frombuffer("".join(f"{b:02x}" for b in range(256)).encode(), np.uint16)
_MASK64 = (1 << 64) - 1

# Timestamp suffix by code: the three UTC styles, then each country's offset (TS_LOCAL).
_TS_SUFFIXES = pa.array(
    ["Z", "+00:00", ""] + [vocab.format_offset(m) for m in vocab.COUNTRY_UTC_OFFSET_MINUTES]
)
_OFFSET_MS = np.array(vocab.COUNTRY_UTC_OFFSET_MINUTES, dtype=np.int64) * 60_000
_EVENT_TYPES = pa.array(vocab.EVENT_TYPES)
_DEVICES = pa.array(vocab.DEVICES)
_COUNTRIES = pa.array(vocab.COUNTRIES)
_NULL = pa.scalar(None, pa.string())


@dataclass(frozen=True)
class IdScheme:
    """Turns running numbers into ids that look random but can never collide.

    The mix (add a key, multiply by an odd constant, xor-shift) is a bijection on 64-bit
    integers, so distinct running numbers always give distinct ids, and the key (from the seed)
    makes two data sets use different ids.
    """

    event_key: int
    session_key: int

    @classmethod
    def from_stream(cls, stream: np.random.SeedSequence) -> IdScheme:
        keys = np.random.default_rng(stream).integers(0, 2**63, size=2)
        return cls(event_key=int(keys[0]), session_key=int(keys[1]))

    def event_ids(self, numbers: npt.NDArray[np.int64]) -> npt.NDArray[np.bytes_]:
        return _hex_ids(b"e", _mix(numbers, self.event_key))

    def session_ids(self, numbers: npt.NDArray[np.int64]) -> npt.NDArray[np.bytes_]:
        return _hex_ids(b"s", _mix(numbers, self.session_key))


def _mix(numbers: npt.NDArray[np.int64], key: int) -> npt.NDArray[np.uint64]:
    x = numbers.astype(np.uint64) + np.uint64(key & _MASK64)
    x ^= x >> np.uint64(31)
    x *= np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(29)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(32)
    return x


def _hex_ids(prefix: bytes, values: npt.NDArray[np.uint64]) -> npt.NDArray[np.bytes_]:
    """``prefix`` + 16 lower-case hex digits per value, as a fixed-width bytes array."""
    big_endian_bytes = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    chars = np.empty((len(values), 17), dtype=np.uint8)
    chars[:, 0] = prefix[0]
    chars[:, 1:] = _HEX_PAIRS[big_endian_bytes].view(np.uint8)
    return chars.view("S17").ravel()


def _text(fixed: npt.NDArray[np.bytes_]) -> pa.Array:
    """A numpy fixed-width ASCII array as an Arrow string array (no copy per element)."""
    width = fixed.dtype.itemsize
    data = pa.py_buffer(np.ascontiguousarray(fixed).tobytes())
    binary = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(fixed), [None, data])
    return binary.cast(pa.binary()).cast(pa.string())


def _number(values: npt.NDArray[np.int64]) -> pa.Array:
    return pc.cast(pa.array(values, type=pa.int64()), pa.string())


def _optional(present: npt.NDArray[np.bool_], key: str, value: pa.Array, quote: bool) -> pa.Array:
    """``,"key":value`` where ``present``, null (left out of the line) elsewhere."""
    mark = '"' if quote else ""
    piece = pc.binary_join_element_wise(f',"{key}":{mark}', value, mark, "")
    return pc.if_else(pa.array(present, type=pa.bool_()), piece, _NULL)


def _timestamps(events: EventBatch) -> pa.Array:
    local = events.ts_style == vocab.TS_LOCAL
    shift = np.where(local, _OFFSET_MS[events.country], 0)
    wall_clock = (events.ts_ms + shift).astype("datetime64[ms]").astype("S23")
    suffix_code = np.where(local, 3 + events.country.astype(np.int64), events.ts_style)
    return pc.binary_join_element_wise(_text(wall_clock), _TS_SUFFIXES.take(suffix_code), "")


def _prices(price_cents: npt.NDArray[np.int64]) -> pa.Array:
    cents = np.maximum(price_cents, 0)
    fraction = pc.utf8_lpad(_number(cents % 100), width=2, padding="0")
    return pc.binary_join_element_wise(_number(cents // 100), fraction, ".")


def render_lines(
    events: EventBatch, event_numbers: npt.NDArray[np.int64], ids: IdScheme
) -> pa.ChunkedArray:
    """One JSON line per event, each ending in ``\\n``, in the order of ``events``."""
    chunks = []
    for start in range(0, len(events), RENDER_CHUNK_ROWS):
        rows = np.arange(start, min(start + RENDER_CHUNK_ROWS, len(events)))
        chunks.append(_render_chunk(events.select(rows), event_numbers[rows], ids))
    return pa.chunked_array(chunks, type=pa.string())


def _render_chunk(
    events: EventBatch, event_numbers: npt.NDArray[np.int64], ids: IdScheme
) -> pa.Array:
    has_session = events.session != NO_SESSION
    has_device = events.device != vocab.ABSENT
    pieces = [
        '{"event_id":"',
        _text(ids.event_ids(event_numbers)),
        '","event_type":"',
        _EVENT_TYPES.take(events.event_type),
        '","user_id":',
        _number(events.user_id),
        ',"ts":"',
        _timestamps(events),
        '"',
        _optional(
            has_session,
            "session_id",
            _text(ids.session_ids(np.maximum(events.session, 0))),
            quote=True,
        ),
        _optional(events.item_id != NO_ITEM, "item_id", _number(events.item_id), quote=False),
        _optional(
            events.price_cents != NO_PRICE, "price", _prices(events.price_cents), quote=False
        ),
        _optional(
            events.quantity != QUANTITY_OMITTED, "quantity", _number(events.quantity), quote=False
        ),
        _optional(
            has_device,
            "device",
            _DEVICES.take(np.where(has_device, events.device, 0)),
            quote=True,
        ),
        _optional(events.country_shown, "country", _COUNTRIES.take(events.country), quote=True),
        "}\n",
    ]
    return pc.binary_join_element_wise(*pieces, "", null_handling="replace", null_replacement="")
