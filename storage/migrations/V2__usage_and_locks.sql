-- Version 2: command usage keyed by interaction (a redelivered interaction is counted once), and
-- the channel locks Aegis holds, with the @everyone overwrite it replaced so /unlock restores it.

ALTER TABLE command_usage ADD COLUMN interaction_id BIGINT;
CREATE UNIQUE INDEX command_usage_interaction ON command_usage (interaction_id);

CREATE TABLE channel_locks (
    guild_id        BIGINT NOT NULL,
    channel_id      BIGINT PRIMARY KEY,
    -- The @everyone overwrite before the lock; NULL when there was none.
    prior_allow     BIGINT,
    prior_deny      BIGINT,
    locked_by       BIGINT NOT NULL,
    locked_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX channel_locks_by_guild ON channel_locks (guild_id);
