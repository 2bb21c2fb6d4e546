//! The simulated world: users, guilds, channels, roles and members.

mod model;
pub mod permissions;
mod seed;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

pub use model::{Channel, Guild, Member, Overwrite, Role, Status, User, channel_type};

/// Everything the simulator knows about Discord's state. It serialises to JSON: a saved
/// world is a scenario file (`Config::scenario`, `GET /_sim/world/export`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct World {
    /// The bot's own user.
    pub bot: User,
    /// The application id (equal to the bot user id, as for most bots).
    pub application_id: u64,
    /// Every user by id.
    pub users: HashMap<u64, User>,
    /// Every guild the bot is in, by id.
    pub guilds: BTreeMap<u64, Guild>,
    /// The highest id handed out while seeding.
    pub last_seeded_id: u64,
    /// Messages by channel id, then message id (Discord message JSON).
    pub messages: HashMap<u64, BTreeMap<u64, Value>>,
    /// Bans by guild id, then user id, with their reason.
    pub bans: HashMap<u64, BTreeMap<u64, Option<String>>>,
    /// Audit log entries by guild id, oldest first (Discord audit log entry JSON).
    pub audit_log: HashMap<u64, Vec<Value>>,
    /// DM channels by id.
    pub dm_channels: BTreeMap<u64, Channel>,
    /// Global application commands.
    pub global_commands: Vec<Value>,
    /// Guild application commands by guild id.
    pub guild_commands: HashMap<u64, Vec<Value>>,
}

impl World {
    /// Reads a scenario file (a world saved as JSON).
    ///
    /// # Errors
    ///
    /// Returns a message naming the file when it cannot be read or parsed.
    pub fn from_scenario(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Generates the deterministic world of `guilds` x `members` for `seed`.
    pub fn seeded(seed: u64, guilds: u32, members: u32) -> Self {
        seed::generate(seed, guilds, members)
    }

    /// The guild of a guild channel or active thread.
    pub fn guild_of_channel(&self, channel_id: u64) -> Option<u64> {
        self.guilds
            .values()
            .find(|g| g.channels.contains_key(&channel_id) || g.threads.contains_key(&channel_id))
            .map(|g| g.id)
    }

    /// A guild channel, thread or DM channel by id.
    pub fn channel(&self, channel_id: u64) -> Option<&Channel> {
        if let Some(c) = self.dm_channels.get(&channel_id) {
            return Some(c);
        }
        let g = self.guilds.get(&self.guild_of_channel(channel_id)?)?;
        g.channels
            .get(&channel_id)
            .or_else(|| g.threads.get(&channel_id))
    }

    /// Mutable access to a guild channel, thread or DM channel.
    pub fn channel_mut(&mut self, channel_id: u64) -> Option<&mut Channel> {
        if self.dm_channels.contains_key(&channel_id) {
            return self.dm_channels.get_mut(&channel_id);
        }
        let g = self.guilds.get_mut(&self.guild_of_channel(channel_id)?)?;
        if g.channels.contains_key(&channel_id) {
            g.channels.get_mut(&channel_id)
        } else {
            g.threads.get_mut(&channel_id)
        }
    }

    /// Ids of the guilds routed to `shard_id` of `num_shards`, in id order.
    pub fn guilds_of_shard(&self, shard_id: u32, num_shards: u32) -> Vec<u64> {
        self.guilds
            .keys()
            .copied()
            .filter(|id| shard_of(*id, num_shards) == shard_id)
            .collect()
    }
}

/// Discord's sharding formula: `(guild_id >> 22) % num_shards`.
pub fn shard_of(guild_id: u64, num_shards: u32) -> u32 {
    let n = u64::from(num_shards.max(1));
    u32::try_from((guild_id >> 22) % n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_is_deterministic_and_complete() {
        let a = World::seeded(42, 5, 20);
        let b = World::seeded(42, 5, 20);
        assert_eq!(
            a.guilds.keys().collect::<Vec<_>>(),
            b.guilds.keys().collect::<Vec<_>>()
        );
        assert_ne!(
            World::seeded(43, 5, 20).guilds.keys().next(),
            a.guilds.keys().next()
        );
        for g in a.guilds.values() {
            assert_eq!(g.members.len(), 21, "20 members plus the bot");
            assert!(g.members.contains_key(&a.bot.id));
            assert!(g.roles.contains_key(&g.id), "@everyone has the guild id");
            assert!(g.members.contains_key(&g.owner_id));
            for m in g.members.values() {
                assert!(a.users.contains_key(&m.user_id));
            }
        }
        let now = crate::snowflake::now_ms();
        let ts = crate::snowflake::timestamp_ms(*a.guilds.keys().next().expect("guild"));
        assert!(
            ts > 1_600_000_000_000 && ts < now,
            "sane snowflake timestamp"
        );
    }

    #[test]
    fn a_saved_world_is_a_scenario() {
        let w = World::seeded(3, 2, 5);
        let path =
            std::env::temp_dir().join(format!("discord-sim-scenario-{}.json", std::process::id()));
        std::fs::write(&path, serde_json::to_string(&w).expect("serialise")).expect("write");
        let loaded = World::from_scenario(&path).expect("load");
        std::fs::remove_file(&path).expect("cleanup");
        assert_eq!(loaded.bot.id, w.bot.id);
        assert_eq!(
            loaded
                .guilds
                .values()
                .map(|g| (g.id, g.members.len(), g.roles.len()))
                .collect::<Vec<_>>(),
            w.guilds
                .values()
                .map(|g| (g.id, g.members.len(), g.roles.len()))
                .collect::<Vec<_>>()
        );
        assert!(World::from_scenario(std::path::Path::new("/nonexistent.json")).is_err());
    }

    #[test]
    fn shards_partition_the_guilds() {
        let w = World::seeded(7, 50, 1);
        let total: usize = (0..4).map(|s| w.guilds_of_shard(s, 4).len()).sum();
        assert_eq!(total, 50);
        assert!((0..4).all(|s| !w.guilds_of_shard(s, 4).is_empty()));
    }
}
