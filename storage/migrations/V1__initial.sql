-- Aegis schema, version 1: guild settings, cases and notes, idempotency, command usage, and the
-- scheduled actions that temporary moderation writes (fired by the scheduler).

CREATE TABLE guilds (
    guild_id    BIGINT PRIMARY KEY,
    settings    JSONB NOT NULL DEFAULT '{}'::jsonb,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per guild; incremented in the same transaction as the case insert, so case numbers are
-- gap-free and unique under any concurrency (the row lock serialises writers of one guild only).
CREATE TABLE case_counters (
    guild_id     BIGINT PRIMARY KEY,
    last_number  INTEGER NOT NULL
);

CREATE TABLE cases (
    id            BIGSERIAL PRIMARY KEY,
    guild_id      BIGINT NOT NULL,
    case_number   INTEGER NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN (
                      'warn', 'kick', 'ban', 'softban', 'tempban', 'unban', 'timeout', 'untimeout',
                      'mute', 'unmute', 'note', 'purge', 'slowmode', 'lock', 'unlock')),
    target_id     BIGINT NOT NULL,
    moderator_id  BIGINT NOT NULL,
    reason        TEXT CHECK (char_length(reason) <= 1024),
    source        TEXT NOT NULL CHECK (source IN ('command', 'native', 'automod', 'scheduled')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ,
    active        BOOLEAN NOT NULL DEFAULT true,
    hidden        BOOLEAN NOT NULL DEFAULT false,
    deleted_at    TIMESTAMPTZ,
    -- What makes the same action the same case: an interaction id, an audit-log entry id, ...
    dedupe_key    TEXT NOT NULL,
    reason_tsv    TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', coalesce(reason, ''))) STORED,
    UNIQUE (guild_id, case_number),
    UNIQUE (guild_id, dedupe_key)
);
-- /cases for a user, newest first.
CREATE INDEX cases_by_target ON cases (guild_id, target_id, case_number DESC);
-- Active temporary actions and expiring warnings.
CREATE INDEX cases_expiring ON cases (expires_at) WHERE active AND expires_at IS NOT NULL;
-- Full-text search over reasons.
CREATE INDEX cases_reason_search ON cases USING GIN (reason_tsv);

CREATE TABLE case_notes (
    id          BIGSERIAL PRIMARY KEY,
    case_id     BIGINT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    author_id   BIGINT NOT NULL,
    body        TEXT NOT NULL CHECK (char_length(body) BETWEEN 1 AND 1024),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX case_notes_by_case ON case_notes (case_id, created_at);

-- An interaction is handled once, however often JetStream delivers it.
CREATE TABLE processed_interactions (
    interaction_id  BIGINT PRIMARY KEY,
    processed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX processed_interactions_age ON processed_interactions (processed_at);

-- Command analytics, kept 90 days.
CREATE TABLE command_usage (
    id          BIGSERIAL PRIMARY KEY,
    guild_id    BIGINT,
    user_id     BIGINT NOT NULL,
    command     TEXT NOT NULL,
    used_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX command_usage_by_time ON command_usage (used_at);
CREATE INDEX command_usage_by_guild ON command_usage (guild_id, used_at);

-- Durable timers: temp-ban and mute expiry, timeout renewal, retention. Claimed by schedulers with
-- FOR UPDATE SKIP LOCKED and a lease.
CREATE TABLE scheduled_actions (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    guild_id      BIGINT,
    payload       JSONB NOT NULL DEFAULT '{}'::jsonb,
    due_at        TIMESTAMPTZ NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'dispatched', 'done', 'cancelled', 'dead')),
    lease_until   TIMESTAMPTZ,
    last_error    TEXT,
    dedupe_key    TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX scheduled_actions_due ON scheduled_actions (due_at) WHERE status = 'pending';
