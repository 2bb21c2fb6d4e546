//! Channel locks: which channels Aegis locked and the `@everyone` overwrite each had before, so
//! `/unlock` puts back exactly what was there.

use tokio_postgres::GenericClient;

use crate::StorageError;

/// An `@everyone` permission overwrite: (allow, deny) bits.
pub type Overwrite = (u64, u64);

fn id(value: u64) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::Corrupt(format!("id {value} out of range")))
}

fn bits(value: Option<i64>) -> Option<u64> {
    value.map(|v| u64::from_ne_bytes(v.to_ne_bytes()))
}

fn signed(value: u64) -> i64 {
    i64::from_ne_bytes(value.to_ne_bytes())
}

/// The lock store; call its functions in the transaction of the lock's case.
#[derive(Debug, Clone, Copy)]
pub struct ChannelLocks;

impl ChannelLocks {
    /// Records `channel` as locked by `moderator`, with the overwrite it had (`prior`); `false` if
    /// Aegis already holds a lock on it (the first lock's prior state is kept).
    pub async fn lock_in(
        client: &impl GenericClient,
        guild: u64,
        channel: u64,
        prior: Option<Overwrite>,
        moderator: u64,
    ) -> Result<bool, StorageError> {
        let (allow, deny) = match prior {
            Some((allow, deny)) => (Some(signed(allow)), Some(signed(deny))),
            None => (None, None),
        };
        let inserted = client
            .execute(
                "INSERT INTO channel_locks (guild_id, channel_id, prior_allow, prior_deny, locked_by)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel_id) DO NOTHING",
                &[&id(guild)?, &id(channel)?, &allow, &deny, &id(moderator)?],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// Ends Aegis's lock on `channel`: `None` if it held none, else the overwrite to restore
    /// (`Some(None)`: there was none; delete Aegis's).
    pub async fn unlock_in(
        client: &impl GenericClient,
        channel: u64,
    ) -> Result<Option<Option<Overwrite>>, StorageError> {
        let row = client
            .query_opt(
                "DELETE FROM channel_locks WHERE channel_id = $1 RETURNING prior_allow, prior_deny",
                &[&id(channel)?],
            )
            .await?;
        Ok(row.map(|row| {
            let (allow, deny) = (bits(row.get(0)), bits(row.get(1)));
            allow.zip(deny)
        }))
    }
}
