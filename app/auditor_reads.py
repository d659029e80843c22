"""The auditor reads of a request: the reporting service bound to the caller and session.

Provider, Metrics and export routers read through `ReadsDep` only, so that every read is
checked against the MDS period contract and audited in the request's transaction.
"""

import hashlib
import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from app.core.auth import Principal, Scope
from app.deps import SessionDep, get_resources, get_settings, require
from app.settings import Settings
from app.visibility import hides_trips, providers_for
from fleet.exports.service import ExportOptions
from fleet.reporting.service import AuditorReads, Reader, ReadRules

_SALT_CONTEXT = b"fleetbed exports: pseudonym salt"


def export_options(settings: Settings) -> ExportOptions:
    """Export options from the settings; the salt is the configured one, else derived
    (one-way) from the JWT signing key, else None (open exports are then refused)."""
    exports = settings.exports
    salt: bytes | None = None
    if exports.salt is not None:
        salt = exports.salt.get_secret_value().encode()
    elif settings.auth.jwt_secret is not None:
        secret = settings.auth.jwt_secret.get_secret_value().encode()
        salt = hmac.new(secret, _SALT_CONTEXT, hashlib.sha256).digest()
    return ExportOptions(
        k_anonymity=exports.k_anonymity,
        salt=salt,
        max_span=timedelta(days=exports.max_span_days),
        copy_queue_chunks=exports.copy_queue_chunks,
        fetch_rows=exports.fetch_rows,
        parquet_group_rows=exports.parquet_group_rows,
        work_mem_mb=exports.work_mem_mb,
    )


def read_rules(settings: Settings) -> ReadRules:
    """The rules of auditor reads, from the settings."""
    return ReadRules(
        hour_lateness=timedelta(seconds=settings.provider.hour_lateness_s),
        max_future_skew=timedelta(seconds=settings.telemetry.max_future_skew_s),
        city_timezone=settings.city_timezone,
        report_k=settings.provider.report_k_anonymity,
        metrics_k=settings.metrics.k_anonymity,
        metrics_max_intervals=settings.metrics.max_intervals,
        metrics_max_rows=settings.metrics.max_rows,
        exports=export_options(settings),
    )


def reader_of(principal: Principal) -> Reader:
    """The principal with what it may see of the city."""
    return Reader(
        principal=principal,
        sees=lambda wanted: providers_for(principal, wanted),
        hide_on_trip=hides_trips(principal),
    )


async def auditor_reads(
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Scope.FLEET_READ))],
) -> AuditorReads:
    """Dependency: the reads of a caller holding `fleet:read`, in the request's session."""
    return AuditorReads(
        session,
        reader=reader_of(principal),
        rules=read_rules(get_settings(request)),
        streams=get_resources(request).sessionmaker,
    )


ReadsDep = Annotated[AuditorReads, Depends(auditor_reads)]
