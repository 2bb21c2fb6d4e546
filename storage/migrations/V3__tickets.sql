-- Version 3: support tickets. Categories per guild (staff roles, where channels go, a name
-- pattern, form questions, a per-user open limit, inactivity auto-close), a blacklist, and the
-- tickets themselves, numbered per guild like cases, with the times staff metrics need and the
-- object keys of their transcripts.

CREATE TABLE ticket_categories (
    id                BIGSERIAL PRIMARY KEY,
    guild_id          BIGINT NOT NULL,
    name              TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    staff_roles       BIGINT[] NOT NULL DEFAULT '{}',
    -- The Discord category channel tickets are created in (none: top level).
    parent_channel_id BIGINT,
    name_pattern      TEXT NOT NULL DEFAULT 'ticket-{number}'
                      CHECK (char_length(name_pattern) BETWEEN 1 AND 90),
    -- Up to 5 questions of the opening form (a modal): [{"label", "required", "max_length"}].
    questions         JSONB NOT NULL DEFAULT '[]'::jsonb,
    open_limit        INTEGER NOT NULL DEFAULT 1 CHECK (open_limit BETWEEN 1 AND 25),
    -- Where transcripts and ticket events are logged.
    log_channel_id    BIGINT,
    -- Close after this long without a message (a warning first); none: never.
    auto_close_secs   BIGINT CHECK (auto_close_secs > 0),
    -- Tickets as private threads in the panel's channel instead of channels.
    private_threads   BOOLEAN NOT NULL DEFAULT false,
    -- A closed ticket's channel stays this long, reopenable, before it is deleted (0: at once).
    reopen_secs       BIGINT NOT NULL DEFAULT 0 CHECK (reopen_secs >= 0),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (guild_id, name)
);

CREATE TABLE ticket_blacklist (
    guild_id    BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    added_by    BIGINT NOT NULL,
    added_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE ticket_counters (
    guild_id     BIGINT PRIMARY KEY,
    last_number  INTEGER NOT NULL
);

CREATE TABLE tickets (
    id                       BIGSERIAL PRIMARY KEY,
    guild_id                 BIGINT NOT NULL,
    number                   INTEGER NOT NULL,
    category_id              BIGINT NOT NULL REFERENCES ticket_categories (id),
    channel_id               BIGINT UNIQUE,
    opener_id                BIGINT NOT NULL,
    status                   TEXT NOT NULL DEFAULT 'open'
                             CHECK (status IN ('open', 'closing', 'closed')),
    claimed_by               BIGINT,
    answers                  JSONB NOT NULL DEFAULT '[]'::jsonb,
    opened_at                TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    first_staff_response_at  TIMESTAMPTZ,
    closed_at                TIMESTAMPTZ,
    closed_by                BIGINT,
    close_reason             TEXT CHECK (char_length(close_reason) <= 1024),
    -- Staff asked the opener to confirm a close (with this reason).
    close_requested_by       BIGINT,
    close_request_reason     TEXT CHECK (char_length(close_request_reason) <= 1024),
    transcript_json_key      TEXT,
    transcript_html_key      TEXT,
    -- The interaction that opened it: a redelivery opens nothing more.
    dedupe_key               TEXT NOT NULL,
    UNIQUE (guild_id, number),
    UNIQUE (guild_id, dedupe_key)
);
-- The open limit: a user's live tickets.
CREATE INDEX tickets_live_by_opener ON tickets (guild_id, opener_id) WHERE status <> 'closed';
-- Staff metrics for the dashboard.
CREATE INDEX tickets_by_guild_time ON tickets (guild_id, opened_at);
