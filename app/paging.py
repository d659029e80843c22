"""Keyset pagination of list endpoints: page size within the settings, a cursor, links."""

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from app.core.bounded import INT32_MAX
from app.core.mds import UUID_PATTERN
from app.deps import get_settings

DeviceId = Annotated[str, Path(pattern=UUID_PATTERN, description="A lowercase UUID.")]


@dataclass(frozen=True)
class Page:
    """A keyset page request: its size, its cursor, and how to link to other pages."""

    request: Request
    size: int
    after: uuid.UUID | None

    def links(self, next_after: uuid.UUID | None) -> dict[str, str | None]:
        """JSON:API pagination links that keep the request's other parameters."""
        url = self.request.url.remove_query_params("after").include_query_params(limit=self.size)
        following = url.include_query_params(after=next_after) if next_after else None
        return {"first": str(url), "next": str(following) if following else None}


async def page_of(
    request: Request,
    limit: Annotated[int | None, Query(ge=1, le=INT32_MAX, description="Page size.")] = None,
    after: Annotated[
        uuid.UUID | None, Query(description="Cursor: the last id of the previous page.")
    ] = None,
) -> Page:
    """Dependency: page size bounded by the settings, and the cursor."""
    api = get_settings(request).api
    return Page(request, min(limit or api.default_page_size, api.max_page_size), after)


PageDep = Annotated[Page, Depends(page_of)]
