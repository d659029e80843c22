"""API key format: `fbk_<key_id>.<secret>`; pure functions, no I/O."""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "fbk_"
_KEY_RE = re.compile(r"^fbk_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class ParsedKey:
    """The two halves of an API key."""

    key_id: str
    secret: str


def new_key() -> tuple[ParsedKey, str]:
    """A fresh random key and its printable form."""
    parsed = ParsedKey(key_id=secrets.token_hex(8), secret=secrets.token_urlsafe(32))
    return parsed, f"{PREFIX}{parsed.key_id}.{parsed.secret}"


def parse_key(raw: str) -> ParsedKey | None:
    """Split a presented key; None when it is not of our format."""
    match = _KEY_RE.match(raw)
    return ParsedKey(match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    """Hash of a secret; a fast hash suffices because secrets carry 256 random bits."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with a stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
