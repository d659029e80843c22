"""The `?since=` cursor as text: what parses, what does not, and its order."""

import pytest

from fleet.tasks.cursor import START, ChangeCursor, parse_cursor


def test_a_cursor_comes_back_from_its_text_and_zero_is_the_start() -> None:
    cursor = ChangeCursor(41_452, 7)
    assert parse_cursor(cursor.text()) == cursor
    assert parse_cursor("0") == START
    assert parse_cursor("9223372036854775807.9223372036854775807") == ChangeCursor(
        2**63 - 1, 2**63 - 1
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12",
        "00",
        "1.",
        ".1",
        "1.2.3",
        "-1.2",
        "1.-2",
        "a.b",
        "1.2 ",
        " 1.2",
        "9223372036854775808.1",
        "1.9223372036854775808",
        "12345678901234567890.1",
        "2026-12-03T10:00:00Z",
    ],
)
def test_other_texts_are_not_cursors(text: str) -> None:
    assert parse_cursor(text) is None


def test_cursors_order_by_transaction_then_change() -> None:
    assert START < ChangeCursor(1, 99) < ChangeCursor(2, 1) < ChangeCursor(2, 5)
