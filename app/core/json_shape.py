"""The shape of a JSON text (nesting depth, items of a top-level array) without decoding it.

Decoding builds a Python object per value, so a small body of many tiny values (`[{},{},…]`)
costs far more memory and time than its size suggests. This scan keeps only the bytes that
carry structure (quotes, brackets, commas) with one `bytes.translate` in compiled code, and
lets numpy walk those alone.
"""

import re
from dataclasses import dataclass

import numpy as np

# Deep enough for every legal body (MDS batches nest about 4 levels, GeoJSON
# multipolygons 6); validating deeper free-form attribute trees would only cost time.
DEFAULT_MAX_DEPTH = 32

_QUOTE, _OPEN, _CLOSE, _COMMA = 1, 2, 3, 4
_CLASSES = bytearray(256)
for _chars, _class in (('"', _QUOTE), ("[{", _OPEN), ("]}", _CLOSE), (",", _COMMA)):
    for _char in _chars:
        _CLASSES[ord(_char)] = _class
_TABLE = bytes(_CLASSES)
_UNSTRUCTURED = bytes(b for b in range(256) if not _CLASSES[b])
_STEP = np.array([0, 0, 1, -1, 0], dtype=np.int8)
# Left to right, so that in `\\"` the pair `\\` goes first and the quote stays.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)


@dataclass(frozen=True)
class JsonShape:
    """How deep a JSON text nests, and how many items its top-level array holds."""

    depth: int
    # None when the top-level value is not an array.
    top_items: int | None


def json_shape(body: bytes) -> JsonShape:
    """Nesting depth and top-level array length of `body`, read as JSON.

    Exact for valid JSON; for invalid JSON the figures are meaningless but finite, and the
    decoder refuses the text afterwards anyway.
    """
    # Escapes only occur inside strings; dropping them leaves every quote a string's edge.
    text = _ESCAPE.sub(b"", body) if b"\\" in body else body
    kinds = np.frombuffer(text.translate(_TABLE, _UNSTRUCTURED), dtype=np.uint8)
    quotes = kinds == _QUOTE
    in_string = np.logical_xor.accumulate(quotes) if kinds.size else quotes
    structure = kinds[~(in_string | quotes)]
    depths = np.cumsum(_STEP[structure], dtype=np.int32)
    depth = max(int(depths.max()), 0) if depths.size else 0
    if body.lstrip()[:1] != b"[":
        return JsonShape(depth, None)
    commas = int(np.count_nonzero((structure == _COMMA) & (depths == 1)))
    if commas:
        return JsonShape(depth, commas + 1)
    # No comma: one item, or none when only whitespace lies between the brackets.
    return JsonShape(depth, 0 if body.strip()[1:-1].strip() == b"" else 1)
