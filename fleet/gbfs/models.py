"""One GBFS system per provider: its public texts and the secret its vehicle ids derive from."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, LargeBinary, String
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class GbfsSystem(Base):
    """A provider's GBFS system; made with the defaults the first time a feed is read."""

    __tablename__ = "gbfs_systems"

    provider_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("providers.provider_id", ondelete="CASCADE"),
        primary_key=True,
    )
    system_id: Mapped[str] = mapped_column(String(64), unique=True)
    # The operator's settings as last put (GbfsSystemBody); {} until then.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Never leaves fleetbed: public vehicle ids are keyed hashes of it.
    id_secret: Mapped[bytes] = mapped_column(LargeBinary)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
