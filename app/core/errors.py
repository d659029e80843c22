"""Domain errors. They know nothing of HTTP; `app.errors` maps them to responses."""

from dataclasses import dataclass, field
from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, detail: str, *, fields: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields

    def extensions(self) -> dict[str, Any]:
        """Members the problem body carries beyond the standard ones."""
        return {}


class NotFound(DomainError):
    """The object does not exist, or belongs to another tenant."""


class Conflict(DomainError):
    """The request contradicts the current state."""


class StateConflict(Conflict):
    """An action the object's state does not allow; `allowed` names the ones it does."""

    def __init__(self, detail: str, *, allowed: list[str]) -> None:
        super().__init__(detail)
        self.allowed = allowed

    def extensions(self) -> dict[str, Any]:
        """The actions the state allows."""
        return {"allowed": self.allowed}


class InvalidInput(DomainError):
    """A value is well-formed JSON but not acceptable."""


class Unauthenticated(DomainError):
    """Credentials are missing, malformed, unknown, expired or revoked."""


class Forbidden(DomainError):
    """The credentials are valid but lack the right for this operation."""


class PayloadTooLarge(DomainError):
    """The request carries more bytes or items than the configured limit."""


class MalformedBody(DomainError):
    """The body cannot be read at all: not JSON, or nested deeper than allowed."""


class UnsupportedMediaType(DomainError):
    """The body is in a media type the endpoint does not read."""


class Unavailable(DomainError):
    """The service cannot do this as configured; retrying will not help until it changes."""


@dataclass(frozen=True)
class BulkFailure:
    """One failed item of an MDS bulk request."""

    item: Any
    error: str
    error_description: str
    error_details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """MDS failure-details object."""
        return {
            "item": self.item,
            "error": self.error,
            "error_description": self.error_description,
            "error_details": self.error_details,
        }


class BulkRejected(DomainError):
    """An MDS bulk request was rejected whole; nothing of it was applied."""

    def __init__(self, total: int, failures: list[BulkFailure]) -> None:
        super().__init__(f"{len(failures)} of {total} items rejected")
        self.total = total
        self.failures = failures


class BulkAlreadyRegistered(BulkRejected):
    """Some items of a registration batch exist already."""


class BulkUnregistered(BulkRejected):
    """Some items of a batch name devices the caller has not registered."""


class ServiceUnavailable(DomainError):
    """A service this request needs cannot be reached now; the same request may work later."""

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
