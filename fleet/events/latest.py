"""The one definition of "a vehicle's last event", as SQL for lateral joins and lookups."""


def last_event_sql(
    columns: str,
    *,
    provider: str,
    device: str,
    before: str | None = None,
    only_if: str | None = None,
) -> str:
    """A subquery of at most one row: `columns` of the newest event of the vehicle
    (`provider`, `device`), optionally of those before `before`; among events at the same
    time the later arrival wins. Arguments are SQL expressions (outer columns or bind
    parameters), never input; `only_if` skips the lookup when false (a one-time filter).

    The table is aliased `ev`, so `columns` may name its columns plainly."""
    conditions = [f"ev.provider_id = {provider}", f"ev.device_id = {device}"]
    if before is not None:
        conditions.append(f"ev.occurred_at < {before}")
    if only_if is not None:
        conditions.append(only_if)
    return (
        f"SELECT {columns} FROM events ev WHERE {' AND '.join(conditions)} "  # noqa: S608
        "ORDER BY ev.occurred_at DESC, ev.seq DESC LIMIT 1"
    )
