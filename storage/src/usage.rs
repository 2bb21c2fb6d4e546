//! Command usage, for the seed's 90-day analytics (kept by the `command_usage` retention job).

use tokio_postgres::GenericClient;

use crate::StorageError;

fn id(value: u64) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::Corrupt(format!("id {value} out of range")))
}

/// Records that `user_id` ran `command` in `guild_id` (none in DMs) through `interaction_id`;
/// a redelivered interaction is counted once.
pub async fn record_command_usage(
    client: &impl GenericClient,
    guild_id: Option<u64>,
    user_id: u64,
    command: &str,
    interaction_id: u64,
) -> Result<(), StorageError> {
    let guild = guild_id.map(id).transpose()?;
    client
        .execute(
            "INSERT INTO command_usage (guild_id, user_id, command, interaction_id)
             VALUES ($1, $2, $3, $4) ON CONFLICT (interaction_id) DO NOTHING",
            &[&guild, &id(user_id)?, &command, &id(interaction_id)?],
        )
        .await?;
    Ok(())
}
