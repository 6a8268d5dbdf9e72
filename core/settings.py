"""The one place PVARA reads configuration: environment variables prefixed ``PVARA_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every setting of PVARA. README's configuration table lists them all."""

    model_config = SettingsConfigDict(env_prefix="PVARA_", extra="ignore", populate_by_name=True)

    # --- local services -------------------------------------------------------------------
    home: Path = Field(
        default=PROJECT_ROOT / ".pvara",
        description="Folder for local service data, logs, cached jars and résumé blobs.",
    )
    auto_install: bool = Field(
        default=True,
        description="Install missing Debian packages (postgresql, redis-server, maven, a JDK, "
        "chromium) with apt-get when run as root; 0 = only report what is missing.",
    )
    log_level: str = Field(default="INFO", description="Level of the JSON logs.")
    postgres_port: int = Field(default=55432, description="Port of the local PostgreSQL.")
    redis_port: int = Field(default=56379, description="Port of the local Redis.")
    kafka_port: int = Field(default=59092, description="Client port of the local Kafka broker.")
    kafka_controller_port: int = Field(
        default=59093, description="KRaft controller port of the local Kafka broker."
    )
    kafka_heap: str = Field(default="384m", description="Max JVM heap of the local Kafka broker.")
    database_url: str = Field(
        default="",
        description="PostgreSQL URL. Set it to use an existing server; empty = local instance.",
    )
    redis_url: str = Field(
        default="", description="Redis URL. Set it to use an existing server; empty = local."
    )
    kafka_bootstrap: str = Field(
        default="",
        description="Kafka bootstrap servers. Set to use an existing cluster; empty = local.",
    )
    db_pool_min: int = Field(default=1, description="Minimum PostgreSQL pool connections.")
    db_pool_max: int = Field(default=10, description="Maximum PostgreSQL pool connections.")

    # --- Kafka topics -----------------------------------------------------------------------
    submitted_partitions: int = Field(
        default=6, description="Partitions of the applications.submitted topic."
    )
    topic_partitions: int = Field(default=3, description="Partitions of the other topics.")
    topic_replication: int = Field(default=1, description="Replication factor of new topics.")

    # --- partitions and retention -----------------------------------------------------------
    partition_months_ahead: int = Field(
        default=3, description="Monthly partitions created ahead of the current month."
    )

    # --- API --------------------------------------------------------------------------------
    api_host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(default=8000, description="Port the API listens on.")
    public_url: str = Field(
        default="", description="Base URL used in status links; empty = http://api_host:api_port."
    )
    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024, description="Largest accepted résumé upload (413 above)."
    )
    blob_dir: Path | None = Field(
        default=None, description="Résumé blob store folder; empty = <home>/blobs."
    )
    blob_grace_s: float = Field(
        default=86_400.0,
        ge=0,
        description="A résumé file no application references is deleted (by an erasure or the"
        " daily sweep) only once it was stored this long ago: a submission still in Kafka"
        " keeps its file. Keep it above the longest bridge outage you plan for.",
    )
    kafka_linger_ms: int = Field(
        default=5, description="How long the producer waits to batch records (latency vs CPU)."
    )
    produce_timeout_s: float = Field(
        default=10.0, description="How long the ingress waits for Kafka's acknowledgement."
    )

    # --- queues and workers ----------------------------------------------------------------
    queue_heartbeat_timeout_ms: int = Field(
        default=15_000,
        description="A Dramatiq worker silent this long is presumed dead; its messages requeue.",
    )
    queue_maintenance_chance: int = Field(
        default=20_000,
        description="Dramatiq Redis maintenance runs on this many commands per million.",
    )
    queue_dead_message_ttl_ms: int = Field(
        default=7 * 24 * 3600 * 1000, description="How long dead-lettered messages are kept."
    )
    worker_processes: int = Field(default=1, description="Default processes per pool.")
    worker_threads: int = Field(default=4, description="Default threads per pool process.")
    bridge_group: str = Field(default="bridge", description="Kafka consumer group of the bridge.")
    bridge_batch_size: int = Field(
        default=500, description="Most Kafka records the bridge handles per offset commit."
    )
    shortlist_debounce_ms: int = Field(
        default=1500, description="A burst of scores for one job triggers one rebuild after this."
    )
    parse_max_retries: int = Field(default=3, description="Retries of a parse that crashed.")
    score_max_retries: int = Field(default=5, description="Retries of a failed screening.")
    notify_max_retries: int = Field(default=8, description="Webhook delivery attempts - 1.")
    notify_min_backoff_ms: int = Field(
        default=15_000, description="First webhook retry delay; doubles up to the max."
    )
    notify_max_backoff_ms: int = Field(
        default=3 * 3600 * 1000, description="Longest delay between webhook retries."
    )
    webhook_timeout_s: float = Field(default=10.0, description="Timeout of one webhook POST.")
    webhook_allow_hosts: str = Field(
        default="",
        description="Comma-separated hosts allowed even if private/loopback (tests, demo).",
    )
    webhook_events: str = Field(
        default="shortlist.updated,offers.created",
        description="Event types delivered to a job's webhook URL.",
    )

    # --- throughput: pool sizes, the parser sandbox, the ingress (issue #13) ---------------
    pool_processes: dict[str, int] = Field(
        default_factory=lambda: {
            "parse": 0,
            "score": 0,
            "shortlist": 1,
            "notify": 1,
            "maintenance": 1,
        },
        description="Processes per pool, JSON {pool: n}; 0 = one per core (CPU-bound parse and"
        " score); a pool not listed gets worker_processes.",
    )
    pool_threads: dict[str, int] = Field(
        default_factory=lambda: {
            "parse": 2,
            "score": 2,
            "shortlist": 2,
            "notify": 32,
            "maintenance": 2,
        },
        description="Threads per pool process, JSON {pool: n}: few where the work is CPU (parse,"
        " local scoring), many where it waits (webhooks; score when tiers call LLMs); a pool"
        " not listed gets worker_threads.",
    )
    parse_sandbox_size: int = Field(
        default=0,
        ge=0,
        description="Pre-started parser processes per parse worker process; 0 = one per thread.",
    )
    parse_sandbox_recycle_after: int = Field(
        default=500, ge=1, description="Files a parser process handles before it is replaced."
    )
    submission_job_cache_ttl_s: float = Field(
        default=60.0,
        gt=0,
        description="How long an API process may keep a job's owner and status for submissions"
        " if a change notice is lost (changes are published to every process at once).",
    )
    bridge_fetch_wait_ms: int = Field(
        default=100,
        ge=0,
        description="How long a bridge fetch may wait for bridge_fetch_min_bytes of records.",
    )
    bridge_fetch_min_bytes: int = Field(
        default=256 * 1024,
        ge=1,
        description="Records a bridge fetch waits for (up to bridge_fetch_wait_ms) before it"
        " returns: fewer, larger fetches under load.",
    )
    api_workers: int = Field(
        default=1,
        ge=1,
        description="uvicorn worker processes of `pvara api` (the API is stateless).",
    )

    # --- auth, rate limits, caches (API) ---------------------------------------------------
    jwt_private_key: SecretStr = Field(
        default=SecretStr(""),
        description="PEM private key (Ed25519 → EdDSA, RSA → RS256) signing access tokens;"
        " empty = a generated dev key kept under <home>/keys.",
    )
    jwt_key_id: str = Field(
        default="", description="`kid` of the signing key; empty = derived from the public key."
    )
    jwt_issuer: str = Field(default="pvara", description="`iss` of access tokens (checked).")
    access_token_ttl_s: int = Field(default=900, description="Lifetime of an access token.")
    refresh_token_ttl_s: int = Field(
        default=7 * 24 * 3600, description="Lifetime of a refresh token (rotated on every use)."
    )
    rate_limit_user_per_min: int = Field(
        default=1000, description="Requests per minute per user (0 = unlimited)."
    )
    rate_limit_ip_per_min: int = Field(
        default=10_000, description="Requests per minute per client IP (0 = unlimited)."
    )
    rate_limit_sensitive_per_min: int = Field(
        default=10,
        description="Attempts per minute per IP at login and candidate withdrawal (0 = off).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or CIDR networks of the proxies in front of the"
        " API: only their X-Forwarded-For / X-Forwarded-Proto are believed; empty = none.",
    )
    jobs_cache_ttl_s: int = Field(
        default=300, description="How long the public job listing stays cached in Redis."
    )

    # --- operations: pools, scheduler, dashboard ------------------------------------------
    worker_group: str = Field(
        default="default",
        description="Supervisor group: `pvara workers` of one group share desired pool sizes.",
    )
    worker_heartbeat_s: float = Field(
        default=2.0, description="How often a worker reports its heartbeat and statistics."
    )
    supervisor_reconcile_s: float = Field(
        default=1.0, description="How often `pvara workers` compares running and desired."
    )
    supervisor_stop_timeout_s: float = Field(
        default=60.0,
        description="Grace for a stopped pool process to finish its messages before SIGKILL.",
    )
    scheduler_poll_s: float = Field(
        default=1.0, description="How often a scheduler tries to become leader, and ticks."
    )
    scheduler_cron: dict[str, str] = Field(
        default_factory=dict,
        description='Cron overrides per scheduler job, JSON: {"sweep_stuck": "*/5 * * * *"}.',
    )
    scheduler_jobs: str = Field(
        default="", description="Comma-separated scheduler jobs to run; empty = all."
    )
    scheduler_namespace: str = Field(
        default="",
        description="Separates schedulers sharing one database: own leader lock and run ledger.",
    )
    retention_months: int = Field(
        default=24,
        description="Monthly partitions older than this are detached into the archive schema.",
    )
    sweeper_stuck_after_s: int = Field(
        default=60,
        description="An application in received/screening this long is enqueued again (the"
        " sweep runs every minute: stuck work comes back within about two minutes).",
    )
    ops_token: SecretStr = Field(
        default=SecretStr(""),
        description="Static bearer token for /ops and /metrics when JWT auth is unavailable.",
    )

    # --- LLM providers, routing, budgets (screening) ---------------------------------------
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PVARA_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="OpenAI API key (or OPENAI_API_KEY); unset = OpenAI is unavailable.",
    )
    openai_base_url: str = Field(
        default="https://api.openai.com/v1", description="OpenAI API base URL."
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PVARA_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
        description="Anthropic API key (or ANTHROPIC_API_KEY); unset = Anthropic is unavailable.",
    )
    anthropic_base_url: str = Field(
        default="https://api.anthropic.com", description="Anthropic API base URL."
    )
    ollama_host: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PVARA_OLLAMA_HOST", "OLLAMA_HOST"),
        description="Ollama URL (or OLLAMA_HOST), e.g. http://gpu-1:11434; unset = the local"
        " server if PVARA_OLLAMA=local, else Ollama is unavailable.",
    )
    llm_timeout_s: float = Field(
        default=60.0, gt=0, description="Timeout of one LLM HTTP call (connect/read/write)."
    )
    price_table_overrides: str | None = Field(
        default=None,
        description="Price-table overrides: a JSON document or the path of a JSON file.",
    )
    prompt_resume_max_chars: int = Field(
        default=24_000, ge=1_000, description="Résumé characters sent to an LLM; the rest is cut."
    )
    llm_routes: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {
            "basic": {"escalate": "never", "chain": []},
            "standard": {"escalate": "uncertain", "chain": ["ollama:llama3.1:8b"]},
            "advanced": {
                "escalate": "always",
                "chain": ["anthropic:claude-sonnet-4-5", "ollama:llama3.1:8b"],
            },
            "senior": {
                "escalate": "always",
                "chain": ["openai:gpt-5", "anthropic:claude-sonnet-4-5"],
            },
        },
        description="Per job tier, JSON: when to leave the local screener (never, uncertain,"
        " always) and the provider:model chain tried in order.",
    )
    llm_uncertain_band: float = Field(
        default=10.0,
        ge=0,
        description="A local score within this many points of the job's min_score_threshold"
        " is uncertain (escalated where the tier says `uncertain`).",
    )
    llm_min_confidence: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="A local result less confident than this is escalated (tier `uncertain`).",
    )
    llm_breaker_failures: int = Field(
        default=5, ge=1, description="Consecutive failures that open a provider's circuit."
    )
    llm_breaker_cooldown_s: float = Field(
        default=30.0, gt=0, description="Seconds an open circuit waits before one trial call."
    )
    llm_budgets: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "day": {"*": 50.0, "openai": 20.0, "anthropic": 20.0, "ollama": 20.0},
            "month": {"*": 1000.0, "openai": 400.0, "anthropic": 400.0, "ollama": 400.0},
        },
        description="Default USD limits per organization, JSON {period: {provider or *: usd}};"
        " table llm_budgets overrides them per organization. Missing = unlimited.",
    )
    llm_reservation_ttl_s: float = Field(
        default=300.0,
        gt=0,
        description="A budget reservation a dead worker never settled expires after this.",
    )
    ollama_gpus: int = Field(
        default=1, ge=0, description="GPUs kept running for Ollama (cost projection)."
    )

    # --- data sets (benchmarks, taxonomy build) ----------------------------------------------
    datasets_dir: Path | None = Field(
        default=None,
        description="Folder of the shared data sets (taxonomy sources, FERR, skill spans);"
        " default: ../shared/datasets beside the repository, else /work/shared/datasets.",
    )

    # --- e-mail (notify pool, SMTP) ---------------------------------------------------------
    smtp_host: str = Field(
        default="", description="SMTP server for e-mail; empty = no e-mail is sent."
    )
    smtp_port: int = Field(default=587, description="SMTP server port (587 STARTTLS, 465 TLS).")
    smtp_tls: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="`starttls` (upgrade, refused if the server cannot), `tls` (implicit, port"
        " 465) or `none` (plain: a relay on localhost only).",
    )
    smtp_username: str = Field(default="", description="SMTP login; empty = no AUTH.")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password.")
    smtp_ca_file: Path | None = Field(
        default=None,
        description="PEM file of CAs trusted for the SMTP server's certificate; empty = system.",
    )
    smtp_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one SMTP session.")
    email_from: str = Field(
        default="no-reply@pvara.local",
        description="Sender address when an organization has none of its own"
        " (organizations.email_from); the organization's name is the display name.",
    )
    email_rate_per_s: int = Field(
        default=100, ge=1, description="E-mails per second per SMTP account (the provider's cap)."
    )
    email_max_retries: int = Field(default=8, description="E-mail delivery attempts - 1.")
    email_status_notices: str = Field(
        default="parse_failed,rejected,withdrawn,hired",
        description="Application statuses the candidate is e-mailed about (besides the"
        " submission confirmation, the interview invitations and the offer).",
    )
    email_shortlist_interval_s: float = Field(
        default=900.0,
        ge=0,
        description="At most one shortlist summary per job in this many seconds (the newest"
        " shortlist is sent at the end of the window); 0 = one per shortlist version.",
    )

    # --- résumé blobs on S3-compatible storage ---------------------------------------------
    blob_url: str = Field(
        default="",
        description="Résumé store: empty = the local folder (PVARA_BLOB_DIR);"
        " s3://bucket/prefix = an S3-compatible bucket.",
    )
    s3_endpoint_url: str = Field(
        default="", description="S3 endpoint for S3-compatible stores; empty = AWS."
    )
    s3_region: str = Field(default="us-east-1", description="S3 region.")
    s3_access_key_id: str = Field(
        default="", description="S3 access key; empty = boto3's chain (AWS_*, IRSA, profile)."
    )
    s3_secret_access_key: SecretStr = Field(default=SecretStr(""), description="S3 secret key.")
    s3_sse: Literal["AES256", "aws:kms", "none"] = Field(
        default="AES256",
        description="Server-side encryption requested on every upload; `none` for stores that"
        " encrypt at rest themselves and refuse the header.",
    )
    s3_kms_key_id: str = Field(
        default="", description="KMS key for `aws:kms`; empty = the bucket's default key."
    )

    # --- the Ollama tier: a local server (ops.services.ollama) ------------------------------
    ollama: Literal["", "local"] = Field(
        default="",
        description="`local` = `pvara services up` builds (once), starts and routes to a local"
        " Ollama server with the bundled SmolLM2-135M model; empty = off. PVARA_OLLAMA_HOST,"
        " if set, wins: an existing server is used and nothing is started.",
    )
    ollama_port: int = Field(default=51434, description="Port of the local Ollama server.")
    ollama_bin: Path | None = Field(
        default=None,
        description="An Ollama binary to run instead of building the pinned version from its"
        " Go module; empty = build once into <home>/ollama/bin.",
    )
    vendor_dir: Path | None = Field(
        default=None,
        description="Vendored C headers for building Ollama (miniaudio/miniaudio.h); empty ="
        " <repo>/../shared/vendor if it exists, else /work/shared/vendor.",
    )
    ollama_threads: int = Field(
        default=1,
        ge=0,
        description="CPU threads the local model runs on (its Modelfile's num_thread); 0 ="
        " Ollama's default, one per core. One is faster on cores shared with other work.",
    )
    ollama_build_timeout_s: float = Field(
        default=3600.0, gt=0, description="Longest the one-time Ollama build may take."
    )

    # --- self-healing: outages, supervision, liveness --------------------------------------
    kafka_delivery_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="How long a producer keeps retrying a record (outlasts a broker restart;"
        " a request still waits only produce_timeout_s for its acknowledgement).",
    )
    bridge_session_timeout_ms: int = Field(
        default=7_000,
        ge=6_000,
        description="Kafka session timeout of the bridge: a killed member's partitions move"
        " to the others within about this (measured: 6.5 s at 7 s).",
    )
    bridge_instance_id: str = Field(
        default="",
        description="Static group membership id of this bridge (unique per replica): a"
        " restarted bridge takes its partitions back at once. Empty = dynamic membership.",
    )
    outage_retry_min_backoff_ms: int = Field(
        default=500,
        ge=1,
        description="First delay before a message that failed on an outage (PostgreSQL,"
        " Redis or Kafka unreachable) runs again; such retries are not counted.",
    )
    outage_retry_max_backoff_ms: int = Field(
        default=10_000, ge=1, description="Longest delay between two outage retries."
    )
    outage_retry_limit_s: float = Field(
        default=3_600.0,
        gt=0,
        description="A message failing on outages for longer than this counts its failures"
        " towards its dead-letter limit again.",
    )
    liveness_dir: Path | None = Field(
        default=None,
        description="Folder of the liveness files (one per process role); empty = <home>/live.",
    )
    liveness_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="A process whose loops have not gone round for this long is wedged:"
        " its liveness file goes stale (probes and `pvara up` restart it).",
    )
    restart_backoff_max_s: float = Field(
        default=30.0,
        gt=0,
        description="`pvara up`: longest wait before restarting a process that keeps exiting.",
    )

    # --- secrets ----------------------------------------------------------------------------
    id_secret: SecretStr = Field(
        default=SecretStr("dev-id-secret-change-me"),
        description="Key of the deterministic application ids (HMAC of org, job, CNIC).",
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr("dev-webhook-secret-change-me"),
        description="Fallback HMAC key for webhooks of jobs without their own secret.",
    )

    # --- security: PII at rest, proxies, headers, login throttling (issue #12) ---------------
    pii_keys: SecretStr = Field(
        default=SecretStr(""),
        description="PII encryption keys, `kid:base64(32 bytes)` separated by commas or lines;"
        " the first encrypts, all decrypt. Empty = PVARA_PII_KEYS_FILE, else a generated dev"
        " key kept under <home>/keys.",
    )
    pii_keys_file: Path | None = Field(
        default=None,
        description="File holding PVARA_PII_KEYS (a mounted secret); read when PVARA_PII_KEYS"
        " is empty.",
    )
    blind_index_key: SecretStr = Field(
        default=SecretStr(""),
        description="Key (base64, 32 bytes) of the blind index (HMAC) used for equality lookups"
        " of CNIC and e-mail; separate from the encryption keys. Empty ="
        " PVARA_BLIND_INDEX_KEY_FILE, else a generated dev key under <home>/keys.",
    )
    blind_index_key_file: Path | None = Field(
        default=None,
        description="File holding PVARA_BLIND_INDEX_KEY (a mounted secret).",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins allowed to call the API from a browser (CORS);"
        " empty = none.",
    )
    hsts_max_age_s: int = Field(
        default=31_536_000,
        ge=0,
        description="Strict-Transport-Security max-age, sent on requests that arrived over TLS"
        " (directly or through a trusted proxy's X-Forwarded-Proto); 0 = never.",
    )
    login_free_failures: int = Field(
        default=5,
        ge=1,
        description="Failed logins of one account (any address) before it must wait.",
    )
    login_backoff_s: float = Field(
        default=30.0,
        gt=0,
        description="First wait after PVARA_LOGIN_FREE_FAILURES failures; doubles with each"
        " further failure up to PVARA_LOGIN_BACKOFF_MAX_S (429 `login_throttled`).",
    )
    login_backoff_max_s: float = Field(
        default=900.0, gt=0, description="Longest wait between login attempts of one account."
    )
    rate_limit_submit_per_min: int = Field(
        default=30,
        ge=0,
        description="Anonymous submissions per minute per client IP (0 = off).",
    )
    json_max_depth: int = Field(
        default=32, ge=2, description="Deepest nesting of a JSON body (400 `json_too_deep`)."
    )
    json_max_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="Largest JSON body (413 above); multipart uploads have PVARA_MAX_UPLOAD_BYTES.",
    )
    json_max_number_chars: int = Field(
        default=40,
        ge=8,
        description="Longest number in a JSON body, in characters (400 `number_too_large`).",
    )

    @property
    def local_database_url(self) -> str:
        return f"postgresql://pvara@127.0.0.1:{self.postgres_port}/pvara"

    @property
    def local_redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def local_kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or self.local_database_url

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or self.local_redis_url

    @property
    def effective_kafka_bootstrap(self) -> str:
        return self.kafka_bootstrap or self.local_kafka_bootstrap

    @property
    def local_ollama_host(self) -> str:
        return f"http://127.0.0.1:{self.ollama_port}"

    @property
    def effective_ollama_host(self) -> str | None:
        """The Ollama server screening calls: PVARA_OLLAMA_HOST, else the local one if on."""
        if self.ollama_host:
            return self.ollama_host
        return self.local_ollama_host if self.ollama == "local" else None

    @property
    def effective_blob_dir(self) -> Path:
        return self.blob_dir or self.home / "blobs"

    @property
    def effective_datasets_dir(self) -> Path:
        return self.datasets_dir or shared_folder("datasets")

    @property
    def effective_vendor_dir(self) -> Path:
        return self.vendor_dir or shared_folder("vendor")

    @property
    def effective_liveness_dir(self) -> Path:
        return self.liveness_dir or self.home / "live"

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://{self.api_host}:{self.api_port}"


def shared_folder(name: str, root: Path = PROJECT_ROOT) -> Path:
    """A folder of the shared, read-only tree: ``<repo>/../shared/<name>`` if it exists, else
    ``/work/shared/<name>`` (data sets, vendored headers)."""
    beside = root.parent / "shared" / name
    return beside if beside.is_dir() else Path("/work/shared") / name


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
