"""Column plumbing: source columns as Arrow text, and dense integer codes for grouping them."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _as_text(value: Any) -> str | None:
    """A non-text cell as text: UUID objects from a driver, numbers from a numeric id column."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an integer column with NULLs arrives as float
    return str(value)


def text_column(series: pd.Series, empty_is_null: bool = False) -> pa.LargeStringArray:
    """The column as an Arrow large_string array; `empty_is_null` makes '' mean absent."""
    try:
        array = pa.array(series, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        if pd.api.types.is_integer_dtype(series.dtype):
            array = pc.cast(pa.array(series, from_pandas=True), pa.large_string())
        else:
            array = pa.array([_as_text(v) for v in series], type=pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        # Chunks may mix string and large_string (seen for an all-NaN float column).
        chunks = [c.cast(pa.large_string()) for c in array.chunks]
        array = pa.concat_arrays(chunks or [pa.array([], pa.large_string())])
    if empty_is_null:
        array = pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.large_string()), array)
    return array


def json_strings(array: pa.Array) -> pa.Array:
    """Each string as a JSON string literal, as `json.dumps(s, ensure_ascii=False)` writes it."""
    matches = pc.match_substring_regex(array, r'["\\\x00-\x1f]')  # what json.dumps escapes
    escape = pc.fill_null(matches, False).to_numpy(zero_copy_only=False)
    quoted = concat('"', array, '"')
    if not escape.any():
        return quoted
    positions = np.flatnonzero(escape)
    escaped = pa.array([json.dumps(v, ensure_ascii=False) for v in array.take(positions).to_pylist()])
    slots = np.full(len(array), -1, dtype=np.int64)
    slots[positions] = np.arange(len(positions))
    return pc.if_else(
        pa.array(escape), escaped.cast(pa.large_string()).take(pa.array(slots, mask=slots < 0)), quoted
    )


def codes(array: pa.Array) -> npt.NDArray[np.int64]:
    """A dense code per distinct value, null included as a value of its own."""
    encoded = pc.dictionary_encode(array, null_encoding="encode")
    values: npt.NDArray[np.int64] = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return values


def combine(*parts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Dense codes of the tuples of several code arrays (each part's codes are below its length)."""
    result = parts[0]
    for part in parts[1:]:
        width = int(part.max()) + 1 if len(part) else 1
        result = pd.factorize(result * width + part)[0].astype(np.int64)
    return result


def valid(array: pa.Array) -> npt.NDArray[np.bool_]:
    """True where the array has a value (not null)."""
    mask: npt.NDArray[np.bool_] = pc.is_valid(array).to_numpy(zero_copy_only=False)
    return mask


def present(array: pa.Array) -> npt.NDArray[np.bool_]:
    """True where a text column has a value that is not only whitespace (an identity must)."""
    blank = pc.equal(pc.utf8_trim_whitespace(array), "")
    mask: npt.NDArray[np.bool_] = pc.and_(pc.is_valid(array), pc.invert(pc.fill_null(blank, True))).to_numpy(
        zero_copy_only=False
    )
    return mask


def concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of large_string arrays and constant strings."""
    args = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, pa.scalar("", pa.large_string()))
