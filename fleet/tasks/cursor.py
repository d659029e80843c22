"""The `?since=` cursor of task changes (pure): where a poller stopped, as text.

A change is ordered by the transaction that made it, then by its change number. A page
holds only changes of transactions that have ended, so a transaction that commits late
cannot slip behind a cursor that was already handed out.
"""

import re
from dataclasses import dataclass

from app.core.bounded import INT64_MAX

_TEXT = re.compile(r"(\d{1,19})\.(\d{1,19})")


@dataclass(frozen=True, order=True)
class ChangeCursor:
    """After the change `seq` of the transaction `tx`; (0, 0) is before every change."""

    tx: int
    seq: int

    def text(self) -> str:
        """The cursor as an app sends it back."""
        return f"{self.tx}.{self.seq}"


START = ChangeCursor(0, 0)


def parse_cursor(text: str) -> ChangeCursor | None:
    """The cursor `text` names: "0" for the start or "TX.SEQ"; None if it is neither."""
    if text == "0":
        return START
    found = _TEXT.fullmatch(text)
    if found is None:
        return None
    tx, seq = int(found[1]), int(found[2])
    if tx > INT64_MAX or seq > INT64_MAX:
        return None
    return ChangeCursor(tx, seq)
