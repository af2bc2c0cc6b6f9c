"""The text rules of `question_types`, applied to a whole Arrow column at once.

Each function is the column form of one rule and is property-tested against it: `encode` is
`encode_text`, `character_counts` is `count_characters`, `word_counts` is `count_words`. The
byte tables are derived from those rules at first use, not written out here, so they cannot
drift apart. Work happens on the UTF-8 bytes with NumPy, because calling quote_plus on every
essay costs ~40 ns a byte, which alone would use most of the time budget for a million rows.
"""

from __future__ import annotations

import sys
from functools import cache
from html.entities import html5

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from learnosity_core.content.question_types import HTML_TYPES, count_words, encode_text

_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


@cache
def _encoding_tables() -> tuple[bytes, bytes]:
    """`bytes.translate` tables: what each byte becomes when kept as one character, and 1 where
    it is %XX-escaped instead.

    ASCII bytes behave as `encode_text` treats the one-character string; every byte of a
    multi-byte UTF-8 character is escaped (asserted against `encode_text` in the tests).
    """
    kept = bytearray(range(256))
    escaped = bytearray([1] * 256)
    for byte in range(128):
        encoded = encode_text(chr(byte))
        if len(encoded) == 1:
            kept[byte] = ord(encoded)
            escaped[byte] = 0
    return bytes(kept), bytes(escaped)


@cache
def _whitespace() -> tuple[bytes, bytes, tuple[bytes, ...]]:
    """What `str.split()` splits on, for `bytes.translate`: 1 for single-byte whitespace, 1 for the
    lead byte of multi-byte whitespace; and the multi-byte sequences themselves."""
    code_points = np.arange(sys.maxunicode + 1, dtype=np.uint32)
    spaces = code_points[np.char.isspace(code_points.view("<U1"))]  # str.isspace, every code point at once
    multi = tuple(chr(c).encode("utf-8") for c in spaces[spaces >= 0x80].tolist())
    single, leads = bytearray(256), bytearray(256)
    for c in spaces[spaces < 0x80].tolist():
        single[c] = 1
    for sequence in multi:
        leads[sequence[0]] = 1
    return bytes(single), bytes(leads), multi


@cache
def _entities() -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    """Named references that decode to whitespace only (so they break words like a space does),
    and the substrings that make a text need `html.unescape` itself.

    Numeric references can decode to anything. A legacy reference without `;` (e.g. `&nbsp`) is
    also decoded as a prefix, unless a longer name matches, so those longer names need the rule too.
    """
    spaces = [n for n, v in html5.items() if v.isspace()]
    if any(any(c.isspace() for c in v) and not v.isspace() for v in html5.values()):
        raise AssertionError("an HTML entity decodes to mixed text and whitespace")  # pragma: no cover
    longer = [
        o for n in spaces if not n.endswith(";") for o in html5 if o.startswith(n) and o not in (n, n + ";")
    ]
    return tuple(("&" + n).encode("ascii") for n in spaces), ("&#", *("&" + n for n in longer))


def utf8_bytes(array: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Offsets (starting at 0) and UTF-8 bytes of a string array, without copying the bytes."""
    array = array.cast(pa.large_string())
    _, offsets_buffer, data_buffer = array.buffers()
    if data_buffer is None or len(array) == 0:
        return np.zeros(len(array) + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    return offsets - offsets[0], data


def _translate(data: npt.NDArray[np.uint8], table: bytes) -> npt.NDArray[np.uint8]:
    """A 256-entry lookup on every byte; `bytes.translate` is several times faster than fancy indexing."""
    return np.frombuffer(data.tobytes().translate(table), dtype=np.uint8)


def encode(array: pa.Array) -> pa.LargeStringArray:
    """URL-encode every string with `+` for spaces, exactly as `encode_text` does (nulls stay null)."""
    kept, escaped = _encoding_tables()
    offsets, data = utf8_bytes(array)
    mapped = _translate(data, kept)
    hits = np.flatnonzero(_translate(data, escaped).view(np.bool_))
    if len(hits):
        # Each escaped byte grows by two: lay the bytes out with room after every escaped one,
        # then write `%` and two hex digits there.
        starts = hits + 2 * np.arange(len(hits))
        room = np.ones(len(mapped) + 2 * len(hits), dtype=np.bool_)
        room[starts + 1] = False
        room[starts + 2] = False
        grown = np.empty(len(room), dtype=np.uint8)
        grown[room] = mapped
        values = data[hits]
        grown[starts] = ord("%")
        grown[starts + 1] = _HEX[values >> 4]
        grown[starts + 2] = _HEX[values & 15]
        mapped = grown
    new_offsets = offsets + 2 * np.searchsorted(hits, offsets)
    validity = pc.is_valid(array).buffers()[1] if array.null_count else None
    return pa.LargeStringArray.from_buffers(
        len(array), pa.py_buffer(new_offsets), pa.py_buffer(mapped), validity, array.null_count
    )


def character_counts(array: pa.Array) -> npt.NDArray[np.int64]:
    """`characterCount` of every string: Unicode code points, as `len()` counts them."""
    counts: npt.NDArray[np.int64] = pc.utf8_length(array).to_numpy(zero_copy_only=False).astype(np.int64)
    return counts


def _tags(offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Byte positions inside tags as TAG_PATTERN (`<[^>]*>`) finds them: from the first `<` after the
    previous `>` to the next `>`, both in the same string."""
    closes = np.flatnonzero(data == ord(">"))
    opens = np.flatnonzero(data == ord("<"))
    if len(closes) == 0 or len(opens) == 0:
        return np.zeros(0, dtype=np.int64)
    closing = np.searchsorted(closes, opens)  # the first `>` at or after each `<`
    opens, closing = opens[closing < len(closes)], closing[closing < len(closes)]
    same_string = np.searchsorted(offsets, opens, side="right") == np.searchsorted(
        offsets, closes[closing], side="right"
    )
    opens, closing = opens[same_string], closing[same_string]
    first = np.unique(closing, return_index=True)[1]
    starts, ends = opens[first], closes[closing[first]]
    lengths = ends - starts + 1
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    positions: npt.NDArray[np.int64] = np.repeat(starts, lengths) + within
    return positions


def _mark(
    space: npt.NDArray[np.bool_],
    offsets: npt.NDArray[np.int64],
    data: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    sequence: bytes,
) -> None:
    """Mark as whitespace every occurrence of `sequence` that begins at one of `starts`."""
    found = starts[starts + len(sequence) <= len(data)]
    for step, byte in enumerate(sequence):
        found = found[data[found + step] == byte]
    last = found + len(sequence) - 1
    found = found[
        np.searchsorted(offsets, found, side="right") == np.searchsorted(offsets, last, side="right")
    ]
    for step in range(len(sequence)):
        space[found + step] = True


def _split_counts(array: pa.Array, html: bool = False) -> npt.NDArray[np.int64]:
    """How many words `str.split()` finds in every string; with `html`, in its visible text:
    tags and whitespace-only character references count as whitespace."""
    single, leads, multi = _whitespace()
    offsets, data = utf8_bytes(array)
    if len(data) == 0:
        return np.zeros(len(array), dtype=np.int64)
    space = _translate(data, single).view(np.bool_).copy()
    candidates = np.flatnonzero(_translate(data, leads).view(np.bool_))
    for sequence in multi:
        _mark(space, offsets, data, candidates, sequence)
    if html:
        space[_tags(offsets, data)] = True
        ampersands = np.flatnonzero(data == ord("&"))
        for name in _entities()[0] if len(ampersands) else ():
            _mark(space, offsets, data, ampersands, name)
    after_space = np.empty(len(data), dtype=np.bool_)
    after_space[0] = True
    after_space[1:] = space[:-1]
    firsts = offsets[:-1]
    after_space[firsts[firsts < len(data)]] = True  # a string's first character starts a word
    word_starts = np.flatnonzero(after_space & ~space)
    counts: npt.NDArray[np.int64] = np.diff(np.searchsorted(word_starts, offsets)).astype(np.int64)
    return counts


def word_counts(array: pa.Array, question_type: str) -> npt.NDArray[np.int64]:
    """`wordCount` of every string as `count_words(raw, question_type)` gives it."""
    if question_type not in HTML_TYPES:
        return _split_counts(array)
    counts = _split_counts(array, html=True)
    # Numeric references (and any prefix-decoding exception) take the rule itself: rare in answers.
    for marker in _entities()[1]:
        unusual = pc.fill_null(pc.match_substring(array, marker), False).to_numpy(zero_copy_only=False)
        for position in np.flatnonzero(unusual).tolist():
            counts[position] = count_words(array[position].as_py(), question_type)
    return counts
