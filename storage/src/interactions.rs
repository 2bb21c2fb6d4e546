//! Interaction idempotency.

use tokio_postgres::GenericClient;

use crate::StorageError;

/// Records `interaction_id` as handled; `false` if it already was. Call it in the transaction
/// that commits the interaction's effect, so a redelivered interaction has no second effect and a
/// failed one can be retried.
pub async fn claim_interaction(
    client: &impl GenericClient,
    interaction_id: u64,
) -> Result<bool, StorageError> {
    let id = i64::try_from(interaction_id).map_err(|_| {
        StorageError::Corrupt(format!("interaction id {interaction_id} out of range"))
    })?;
    let inserted = client
        .execute(
            "INSERT INTO processed_interactions (interaction_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&id],
        )
        .await?;
    Ok(inserted == 1)
}
