"""`json_shape` reads depth and top-level length from the bytes as a decoder would."""

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.json_shape import JsonShape, json_shape

# Strings full of the characters that carry structure, escaped or not.
TRICKY_TEXT = st.text(alphabet='[]{},"\\:ab \n\t\u00e9', max_size=8)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY_TEXT, inner, max_size=4),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _expected(value: Any) -> JsonShape:
    return JsonShape(_depth(value), len(value) if isinstance(value, list) else None)


@given(JSON_VALUES)
def test_shape_matches_the_decoded_value_however_it_is_written(value: Any) -> None:
    for text in (orjson.dumps(value), json.dumps(value, indent=2).encode()):
        assert json_shape(text) == _expected(value)


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        (b"[]", JsonShape(1, 0)),
        (b" [ \n ] ", JsonShape(1, 0)),
        (b"[{}]", JsonShape(2, 1)),
        (b'["\\\\", "\\"]", 3]', JsonShape(1, 3)),
        (b'{"a": [1, 2]}', JsonShape(2, None)),
        (b"7", JsonShape(0, None)),
        (b"", JsonShape(0, None)),
    ],
)
def test_edge_cases(text: bytes, shape: JsonShape) -> None:
    assert json_shape(text) == shape


def test_many_tiny_items_are_counted_without_decoding() -> None:
    body = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"
    assert json_shape(body) == JsonShape(2, 1_000_000)


def test_invalid_json_gives_finite_figures() -> None:
    assert json_shape(b'[[[["unterminated').depth == 4
    assert json_shape(b"]]]]").depth == 0
