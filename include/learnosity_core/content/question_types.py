"""The 13 question types the template submission accepts, and the text rules they share.

One table for the client: the transform and the response rules read the `type` field, the count
field and the text encoding from here, so they cannot drift apart.
"""

from __future__ import annotations

import html
import re
from typing import Final, Literal
from urllib.parse import quote_plus, unquote_plus

ResponseKind = Literal["array", "string"]

RESPONSE_KIND: Final[dict[str, ResponseKind]] = {
    "association": "array",
    "choicematrix": "array",
    "clozeformula": "array",
    "clozeinlinetext": "array",
    "clozetext": "array",
    "mcq": "array",
    "orderlist": "array",
    "formulaV2": "string",
    "gridded": "string",
    "longtext": "string",
    "longtextV2": "string",
    "plaintext": "string",
    "shorttext": "string",
}
SUPPORTED_TYPES: Final[frozenset[str]] = frozenset(RESPONSE_KIND)

# String types whose value is the learner's text URL-encoded with `+` for spaces.
ENCODED_TEXT_TYPES: Final[frozenset[str]] = frozenset(
    {"formulaV2", "longtext", "longtextV2", "plaintext", "shorttext"}
)
# Array types whose entries are strings chosen from the question's options.
STRING_CHOICE_TYPES: Final[frozenset[str]] = frozenset({"association", "clozeinlinetext", "clozetext", "mcq"})
CHARACTER_COUNT_TYPES: Final[frozenset[str]] = frozenset({"shorttext"})
WORD_COUNT_TYPES: Final[frozenset[str]] = frozenset({"longtext", "longtextV2", "plaintext"})
# Rich-text types: markup is not a word and tags separate words.
HTML_TYPES: Final[frozenset[str]] = frozenset({"longtext", "longtextV2"})

# A tag in rich text: `<` up to the next `>` (public so column-wise code strips the same markup).
TAG_PATTERN: Final[str] = r"<[^>]*>"
_TAG = re.compile(TAG_PATTERN)


def encode_text(raw: str) -> str:
    """URL-encode with `+` for spaces; `decode_text` gives back the exact text."""
    return quote_plus(raw, safe="")


def decode_text(encoded: str) -> str:
    return unquote_plus(encoded)


def count_characters(raw: str) -> int:
    """`characterCount`: characters (Unicode code points) of the raw text."""
    return len(raw)


def visible_text(raw: str, question_type: str) -> str:
    """The text a reader sees: for rich-text types, tags become spaces and entities decode."""
    if question_type in HTML_TYPES:
        return html.unescape(_TAG.sub(" ", raw))
    return raw


def count_words(raw: str, question_type: str) -> int:
    """`wordCount`: whitespace-separated words of the visible text."""
    return len(visible_text(raw, question_type).split())
