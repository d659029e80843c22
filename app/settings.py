"""The one place that reads the environment (prefix `FLEETBED_`, nested with `__`)."""

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.bounded import DEFAULT_HORIZON_DAYS
from app.core.json_shape import DEFAULT_MAX_DEPTH


class AuthSettings(BaseModel):
    """Credentials and tokens."""

    jwt_secret: SecretStr | None = Field(
        default=None,
        description="HS256 signing key for access tokens; every API process must share it. "
        "When unset, each process makes a random one and tokens only work against it.",
    )
    jwt_issuer: str = "fleetbed"
    jwt_audience: str = "fleetbed"
    token_ttl_s: int = Field(default=3600, ge=60, le=86400)
    key_cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        description="How long a process trusts a looked-up key: "
        "the longest a revocation can take to bite.",
    )


class ApiSettings(BaseModel):
    """HTTP API behaviour."""

    default_page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1)
    max_vehicle_batch: int = Field(default=1000, ge=1)
    max_time_horizon_days: int = Field(
        default=DEFAULT_HORIZON_DAYS,
        ge=1,
        le=36500,
        description="How far ahead of now a date or time in a request may lie; later ones "
        "(and any before 2018) are refused as bad input. MDS ingest is bound tighter, by "
        "telemetry.max_future_skew_s.",
    )
    # The largest legal batch is 5,000 Agency trips with every optional field at a
    # realistic maximal size: 1.8 kB each as measured (tests/test_body_limits.py builds
    # one), 9 MB in all; telemetry points (0.7 kB) and events (1.1 kB) stay below that.
    # Twice 9 MB, rounded up to 20 MiB, leaves room for longer values and pretty-printing.
    max_body_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        description="Largest request body in bytes; larger ones are refused (413) unread.",
    )
    max_json_depth: int = Field(
        default=DEFAULT_MAX_DEPTH,
        ge=2,
        description="Deepest nesting of arrays and objects in a JSON body.",
    )


class TelemetrySettings(BaseModel):
    """Ingest limits and history retention."""

    max_batch: int = Field(default=5000, ge=1, description="Most points in one request.")
    max_future_skew_s: int = Field(
        default=300, ge=0, description="How far in the future a timestamp may lie."
    )
    partition_days_ahead: int = Field(default=3, ge=1, le=60)
    retention_days: int | None = Field(
        default=90,
        ge=1,
        description="Daily history partitions older than this are dropped; None keeps all.",
    )
    maintenance_interval_s: float = Field(
        default=3600, gt=0, description="How often partitions are made ahead and expired."
    )


class HotStateSettings(BaseModel):
    """The Redis live state."""

    catchup_interval_s: float = Field(
        default=5.0,
        ge=0,
        description="How often a process checks whether Redis lost the live state and "
        "rebuilds it from PostgreSQL; 0 turns background upkeep off.",
    )


class GeofenceSettings(BaseModel):
    """Zones and their H3 covers."""

    resolution: int = Field(
        default=10, ge=7, le=13, description="H3 resolution of zone covers (new zones)."
    )
    max_zone_area_km2: float = Field(default=5000, gt=0)
    city_bbox: tuple[float, float, float, float] = Field(
        default=(12.0, 55.5, 13.5, 56.6),
        description="MINLNG, MINLAT, MAXLNG, MAXLAT that every zone must lie in; it also "
        "catches [latitude, longitude] order, which other checks cannot tell apart here.",
    )
    resync_interval_s: float = Field(
        default=30,
        gt=0,
        description="How often a process checks for zone changes it missed on pub/sub.",
    )
    follow_changes: bool = Field(
        default=True, description="Reload the zone index when another process changes zones."
    )


class AlertSettings(BaseModel):
    """Hysteresis against GPS jitter, and how often a violation may repeat."""

    min_depth_m: float = Field(
        default=10.0, ge=0, description="A point this far past a boundary changes sides at once."
    )
    min_dwell_s: float = Field(
        default=20.0, ge=0, description="Or the other side must be seen for this long."
    )
    repeat_after_s: float = Field(
        default=300.0,
        ge=0,
        description="The same violation of a vehicle in a zone, at most this often.",
    )


class TripSettings(BaseModel):
    """Trips."""

    abandon_after_s: float = Field(
        default=6 * 3600, gt=0, description="An open trip with no end after this is abandoned."
    )
    discrepancy_share: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="A trip whose operator-reported and measured duration or distance "
        "differ by more than this share of the larger is flagged.",
    )
    abandon_interval_s: float = Field(
        default=3600, gt=0, description="How often open trips are checked for abandonment."
    )


class ProviderApiSettings(BaseModel):
    """The MDS Provider API."""

    hour_lateness_s: float = Field(
        default=900,
        ge=0,
        description="An hour is served (200) this long after it ended; before, 202.",
    )
    report_k_anonymity: int = Field(
        default=10,
        ge=1,
        description="Monthly report counts below this (zero included) are returned as -1.",
    )


class MetricsSettings(BaseModel):
    """The MDS Metrics API."""

    k_anonymity: int = Field(
        default=10,
        ge=1,
        description="Trip counts below this are returned as -1, and averages over them too.",
    )
    max_intervals: int = Field(default=1000, ge=1, description="Most intervals in one query.")
    max_rows: int = Field(
        default=100_000, ge=1, description="Most rows one query may return; more is a 400."
    )


class ExportSettings(BaseModel):
    """Exports for city auditors (`/v1/exports/...`, `fleetbed export`)."""

    k_anonymity: int = Field(
        default=5,
        ge=1,
        description="Open trip exports report an origin/destination pair only when at "
        "least this many trips share it (else coarser, else not at all).",
    )
    salt: SecretStr | None = Field(
        default=None,
        description="Key of the salted hashes that replace identifiers in open exports; "
        "changing it changes every pseudonym. When unset, one is derived from "
        "auth.jwt_secret (so rotating that changes the pseudonyms too); when both are "
        "unset, open exports are refused.",
    )
    max_span_days: int = Field(default=366, ge=1, description="Longest window of one export.")
    copy_queue_chunks: int = Field(
        default=32, ge=1, description="CSV chunks read ahead of the client; COPY waits beyond."
    )
    fetch_rows: int = Field(
        default=10_000, ge=100, description="Rows fetched per round trip for GeoJSON and Parquet."
    )
    parquet_group_rows: int = Field(
        default=50_000, ge=1000, description="Rows per Parquet row group (memory per export)."
    )
    work_mem_mb: int = Field(
        default=64, ge=1, description="PostgreSQL work_mem of an export's sorts and counts."
    )


class TaskSettings(BaseModel):
    """Field tasks: the rules on ingest and the upkeep job."""

    rules_on_ingest: bool = Field(
        default=True, description="Open and close tasks from telemetry and events as they come."
    )
    upkeep_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="How often overdue tasks expire and silent vehicles get an inspection.",
    )


class BackgroundSettings(BaseModel):
    """Retries and readiness of background tasks (zone sync, upkeep)."""

    max_backoff_s: float = Field(
        default=30.0, gt=0, description="Longest wait between retries of a failing task."
    )
    min_stale_after_s: float = Field(
        default=15.0,
        ge=0,
        description="A task counts as failing in /readyz when it has not succeeded for "
        "max(3 x its interval, this).",
    )


class MqttSettings(BaseModel):
    """The MQTT transport of vehicle commands."""

    url: str | None = Field(
        default=None,
        pattern=r"^mqtt://[^/\s]+$",
        description="Broker, e.g. mqtt://127.0.0.1:1883; commands go over MQTT only when set.",
    )


class CommandSettings(BaseModel):
    """Delivery of vehicle commands."""

    redeliver_after_s: float = Field(
        default=30.0,
        gt=0,
        description="A delivered command without an answer is handed out again after this.",
    )
    expiry_interval_s: float = Field(
        default=5.0, gt=0, description="How often commands past their expiry are expired."
    )
    max_per_poll: int = Field(default=100, ge=1, description="Most commands in one delivery.")
    max_wait_s: float = Field(
        default=55.0,
        ge=0,
        description="Longest a long poll is held, whatever `wait` asks for (at most 55 s).",
    )


class RebalancingSettings(BaseModel):
    """Demand forecast, target fleet per cell and the van route planner."""

    history_weeks: int = Field(
        default=4, ge=1, le=26, description="Weeks of trip history the forecast learns from."
    )
    van_speed_kmh: float = Field(
        default=25.0, gt=0, description="Average speed of a van between stops."
    )
    detour_factor: float = Field(
        default=1.3, ge=1, description="Road distance over great-circle distance, on average."
    )
    stop_s: int = Field(default=120, ge=0, description="Seconds to park a van and leave.")
    handle_s: int = Field(default=30, ge=0, description="Seconds to load or unload a vehicle.")
    swap_s: int = Field(default=90, ge=0, description="Seconds to swap a battery on board.")
    unserved_penalty_s: int = Field(
        default=1800,
        ge=1,
        description="What a vehicle of imbalance left unserved costs, in van seconds.",
    )
    workers: int = Field(
        default=1, ge=1, description="Processes that plan routes, apart from the API's."
    )
    max_time_limit_s: float = Field(
        default=60.0, gt=0, description="Longest search a plan may ask for."
    )
    answer_within_s: float = Field(
        default=15.0,
        ge=0,
        description="A plan done within this answers 201; a slower one 202 with its id.",
    )


class DispatchSettings(BaseModel):
    """Re-optimisation of the pods' schedules (per provider settings: /v1/dispatch/settings)."""

    reoptimise_interval_s: float = Field(
        default=30.0,
        ge=0,
        description="Seconds between re-optimisations of every schedule (0: never); a "
        "booking or a change asks for one sooner.",
    )
    reoptimise_time_limit_s: float = Field(
        default=3.0, gt=0, le=60, description="Search time of one re-optimisation."
    )


class GbfsSettings(BaseModel):
    """The public GBFS 3.0 feeds (per system texts: /v1/gbfs/system)."""

    base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s?#]+[^/\s?#]$",
        description="Public root the feeds' URLs start with (e.g. https://data.example.org); "
        "the request's own when unset.",
    )
    languages: list[str] = Field(
        default=["sv", "en"],
        min_length=1,
        description="Languages of a system's texts until its operator sets them.",
    )
    feed_contact_email: str = Field(
        default="gbfs@fleetbed.invalid",
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="Where feed consumers report problems, until an operator sets its own.",
    )
    stale_after_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="A vehicle not heard of for longer is not listed as rentable.",
    )
    alert_recent_s: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="A closure zone is announced in system_alerts this long after it took "
        "effect (and before, from its publication).",
    )


class Settings(BaseSettings):
    """All configuration of a fleetbed process."""

    model_config = SettingsConfigDict(
        env_prefix="FLEETBED_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/fleetbed"
    redis_url: str = "redis://127.0.0.1:6379/0"
    db_pool_size: int = Field(default=10, ge=1)
    city_timezone: str = "Europe/Stockholm"
    log_level: str = "INFO"
    log_json: bool = True
    workers: int = Field(
        default=1, ge=1, le=64, description="API processes `fleetbed serve` starts."
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-* headers are trusted (comma-separated, or *).",
    )
    auth: AuthSettings = AuthSettings()
    api: ApiSettings = ApiSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    hotstate: HotStateSettings = HotStateSettings()
    geofence: GeofenceSettings = GeofenceSettings()
    alerts: AlertSettings = AlertSettings()
    trips: TripSettings = TripSettings()
    provider: ProviderApiSettings = ProviderApiSettings()
    exports: ExportSettings = ExportSettings()
    metrics: MetricsSettings = MetricsSettings()
    background: BackgroundSettings = BackgroundSettings()
    tasks: TaskSettings = TaskSettings()
    commands: CommandSettings = CommandSettings()
    rebalancing: RebalancingSettings = RebalancingSettings()
    dispatch: DispatchSettings = DispatchSettings()
    gbfs: GbfsSettings = GbfsSettings()
    mqtt: MqttSettings = MqttSettings()
