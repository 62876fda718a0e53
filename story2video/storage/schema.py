"""The tables of schema 5, written once and spelled for SQLite or PostgreSQL.

Column types differ only where the two disagree: PostgreSQL's REAL is a 4-byte float, so every
floating column (timestamps above all) is DOUBLE PRECISION there; counters that may pass 2**31 are
BIGINT; the event id is an autoincrementing key. JSON is stored as TEXT on both.
"""

from __future__ import annotations

SCHEMA_VERSION = 5
# 2: operations are identified by (operation_id, user_id), no longer by operation_id alone
# 3: operations.attempt and .cancel_requested; operation_leases, operation_events, provider_jobs, workers
# 4: a story's cast (characters); shots.characters, .lines, .consistency, .takes
# 5: scripts written from an idea and their episodes; webhook_registrations, webhook_deliveries, webhook_attempts;
#    accounts for people: account_users, account_refresh_tokens, account_login_failures; events by user
#    (new tables and indexes only: an older database gains them as they are created)

_TYPES = {
    "sqlite": {"REAL": "REAL", "BIGINT": "INTEGER", "SERIAL_KEY": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    "postgresql": {"REAL": "DOUBLE PRECISION", "BIGINT": "BIGINT", "SERIAL_KEY": "BIGSERIAL PRIMARY KEY"},
}

# Operation ids are chosen by clients, so they are unique per user only. The primary key starts with
# operation_id so that a lookup by id alone (a client that does not say its user) uses it too.
OPERATIONS = (
    """CREATE TABLE IF NOT EXISTS operations (
    operation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    progress {REAL} NOT NULL,
    shots TEXT NOT NULL,
    error TEXT,
    result TEXT,
    created_at {REAL} NOT NULL,
    updated_at {REAL} NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (operation_id, user_id)
)""",
    "CREATE INDEX IF NOT EXISTS operations_by_status ON operations (status)",
    "CREATE INDEX IF NOT EXISTS operations_by_story ON operations (user_id, story_id)",
)

# Columns added to operations after schema 2, as ALTER TABLE adds them to an older file.
OPERATION_COLUMNS_SINCE_2 = {
    "attempt": "attempt INTEGER NOT NULL DEFAULT 0",
    "cancel_requested": "cancel_requested INTEGER NOT NULL DEFAULT 0",
}

# Columns added to shots by schema 4, as ALTER TABLE adds them to an older database.
SHOT_COLUMNS_SINCE_3 = {
    "characters": "characters TEXT NOT NULL DEFAULT '[]'",
    "lines": "lines TEXT NOT NULL DEFAULT '[]'",
    "consistency": "consistency {REAL}",
    "takes": "takes INTEGER NOT NULL DEFAULT 0",
}

_TABLES = (
    """CREATE TABLE IF NOT EXISTS stories (
    user_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    script TEXT NOT NULL,
    style TEXT NOT NULL,
    aspect_ratio TEXT NOT NULL,
    resolution INTEGER NOT NULL,
    video_key TEXT,
    subtitles_key TEXT,
    created_at {REAL} NOT NULL,
    updated_at {REAL} NOT NULL,
    PRIMARY KEY (user_id, story_id)
)""",
    """CREATE TABLE IF NOT EXISTS shots (
    user_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    shot_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    camera TEXT NOT NULL,
    narration TEXT NOT NULL,
    tone TEXT NOT NULL,
    style TEXT NOT NULL,
    seed {BIGINT} NOT NULL,
    image_key TEXT,
    audio_key TEXT,
    video_key TEXT,
    updated_at {REAL} NOT NULL,
    characters TEXT NOT NULL DEFAULT '[]',
    lines TEXT NOT NULL DEFAULT '[]',
    consistency {REAL},
    takes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, story_id, shot_id),
    FOREIGN KEY (user_id, story_id) REFERENCES stories (user_id, story_id) ON DELETE CASCADE
)""",
    """CREATE TABLE IF NOT EXISTS characters (
    user_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    character_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    name TEXT NOT NULL,
    appearance TEXT NOT NULL,
    gender TEXT NOT NULL,
    age TEXT NOT NULL,
    timbre TEXT NOT NULL,
    voice TEXT NOT NULL,
    reference_key TEXT,
    reference_upload_id TEXT,
    updated_at {REAL} NOT NULL,
    portrait_take INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, story_id, character_id),
    FOREIGN KEY (user_id, story_id) REFERENCES stories (user_id, story_id) ON DELETE CASCADE
)""",
    """CREATE TABLE IF NOT EXISTS scripts (
    user_id TEXT NOT NULL,
    script_id TEXT NOT NULL,
    title TEXT NOT NULL,
    premise TEXT NOT NULL,
    genre TEXT NOT NULL,
    duration TEXT NOT NULL,
    episode_count INTEGER NOT NULL,
    style TEXT NOT NULL,
    language TEXT NOT NULL,
    request TEXT NOT NULL,
    cast_members TEXT NOT NULL DEFAULT '[]',
    outline TEXT NOT NULL DEFAULT '[]',
    operation_id TEXT NOT NULL,
    created_at {REAL} NOT NULL,
    updated_at {REAL} NOT NULL,
    PRIMARY KEY (user_id, script_id)
)""",
    """CREATE TABLE IF NOT EXISTS script_episodes (
    user_id TEXT NOT NULL,
    script_id TEXT NOT NULL,
    episode INTEGER NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    text TEXT NOT NULL,
    state TEXT NOT NULL,
    scene_prompts TEXT NOT NULL DEFAULT '[]',
    updated_at {REAL} NOT NULL,
    PRIMARY KEY (user_id, script_id, episode),
    FOREIGN KEY (user_id, script_id) REFERENCES scripts (user_id, script_id) ON DELETE CASCADE
)""",
    *OPERATIONS,
    """CREATE TABLE IF NOT EXISTS artifacts (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    rel_path TEXT NOT NULL,
    media_type TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    duration {REAL},
    size_bytes {BIGINT} NOT NULL,
    meta TEXT NOT NULL,
    created_at {REAL} NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    format TEXT NOT NULL,
    artifact_key TEXT NOT NULL,
    size_bytes {BIGINT} NOT NULL,
    width INTEGER,
    height INTEGER,
    duration {REAL},
    source TEXT NOT NULL,
    filename TEXT NOT NULL,
    created_at {REAL} NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS uploads_by_user ON uploads (user_id, created_at)",
    "CREATE INDEX IF NOT EXISTS uploads_by_artifact ON uploads (artifact_key)",
    """CREATE TABLE IF NOT EXISTS operation_leases (
    user_id TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    expires_at {REAL} NOT NULL,
    PRIMARY KEY (user_id, operation_id, holder)
)""",
    "CREATE INDEX IF NOT EXISTS operation_leases_by_worker ON operation_leases (worker_id)",
    "CREATE INDEX IF NOT EXISTS operation_leases_by_expiry ON operation_leases (expires_at)",
    """CREATE TABLE IF NOT EXISTS operation_events (
    event_id {SERIAL_KEY},
    user_id TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at {REAL} NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS operation_events_by_operation ON operation_events (user_id, operation_id, event_id)",
    "CREATE INDEX IF NOT EXISTS operation_events_by_user ON operation_events (user_id, event_id)",
    # Accounts for people (ACCOUNTS_ENABLED). New tables only: an older database gains them as they are created.
    """CREATE TABLE IF NOT EXISTS account_users (
    account_id {SERIAL_KEY},
    username TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at {REAL} NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS account_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id {BIGINT} NOT NULL REFERENCES account_users (account_id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    expires_at {REAL} NOT NULL,
    used_at {REAL},
    created_at {REAL} NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS account_refresh_tokens_by_family ON account_refresh_tokens (family_id)",
    """CREATE TABLE IF NOT EXISTS account_login_failures (
    failure_id {SERIAL_KEY},
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at {REAL} NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS account_login_failures_by_subject ON account_login_failures (scope, subject, created_at)",
    """CREATE TABLE IF NOT EXISTS provider_jobs (
    artifact_key TEXT NOT NULL,
    name TEXT NOT NULL,
    job_id TEXT NOT NULL,
    submitted_at {REAL} NOT NULL,
    PRIMARY KEY (artifact_key, name)
)""",
    """CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    queues TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    started_at {REAL} NOT NULL,
    heartbeat_at {REAL} NOT NULL
)""",
    # Webhooks: a user's registered callback, and one delivery per finished operation that has a callback
    # (its request's callback_url, else its user's registration) with every attempt to send it.
    """CREATE TABLE IF NOT EXISTS webhook_registrations (
    user_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at {REAL} NOT NULL,
    updated_at {REAL} NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id {SERIAL_KEY},
    user_id TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    body TEXT,
    last_error TEXT,
    next_attempt_at {REAL} NOT NULL,
    deadline_at {REAL} NOT NULL,
    claimed_until {REAL} NOT NULL DEFAULT 0,
    created_at {REAL} NOT NULL,
    updated_at {REAL} NOT NULL,
    UNIQUE (user_id, operation_id)
)""",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
    """CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id {BIGINT} NOT NULL,
    attempt INTEGER NOT NULL,
    started_at {REAL} NOT NULL,
    duration_s {REAL} NOT NULL,
    status_code INTEGER,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
)""",
    """CREATE TABLE IF NOT EXISTS shared_folder (
    slot INTEGER PRIMARY KEY CHECK (slot = 1),
    marker TEXT NOT NULL
)""",
)


def spelled(statement: str, dialect: str) -> str:
    """``statement`` with its column types written the way ``dialect`` ("sqlite" | "postgresql") needs."""
    return statement.format(**_TYPES[dialect])


def create_statements(dialect: str) -> list[str]:
    """Every CREATE TABLE / CREATE INDEX of the current schema, idempotent (IF NOT EXISTS), in order."""
    return [spelled(statement, dialect) for statement in _TABLES]
