//! Deterministic world generation from a seed.

use std::collections::{BTreeMap, HashMap};

use super::World;
use super::model::{Channel, Guild, Member, Overwrite, Role, Status, User, channel_type};
use super::permissions as p;
use crate::snowflake::snowflake;

/// 2023-01-01T00:00:00Z: seeded objects are created after this instant.
const BASE_MS: u64 = 1_672_531_200_000;

/// SplitMix64, a tiny deterministic PRNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Hands out increasing ids whose timestamps advance by a random few seconds.
struct Ids {
    rng: Rng,
    ms: u64,
    counter: u64,
}

impl Ids {
    fn next(&mut self) -> u64 {
        self.ms += 1 + self.rng.below(5_000);
        self.counter += 1;
        snowflake(self.ms, self.counter)
    }
}

const NAMES: [&str; 16] = [
    "ash", "birch", "cedar", "dune", "ember", "fjord", "grove", "heath", "iris", "juniper",
    "kestrel", "lark", "moss", "nova", "onyx", "pine",
];

/// Builds the world for `seed` with `guilds` guilds of `members` members each, plus the bot.
pub(crate) fn generate(seed: u64, guilds: u32, members: u32) -> World {
    let mut rng = Rng(seed);
    let mut ids = Ids {
        rng: Rng(seed ^ 0x5eed),
        ms: BASE_MS + rng.below(86_400_000),
        counter: 0,
    };
    let bot = User {
        id: ids.next(),
        username: "Aegis Sim".to_owned(),
        global_name: None,
        bot: true,
    };
    let application_id = bot.id;

    // A pool of users twice the size of a guild; consecutive guilds share half their members.
    let pool_size = u64::from(members).saturating_mul(2).max(1);
    let pool: Vec<User> = (0..pool_size)
        .map(|i| {
            let id = ids.next();
            let name = NAMES[usize::try_from(rng.below(16)).unwrap_or(0)];
            User {
                id,
                username: format!("{name}_{i}"),
                global_name: (i % 4 == 0).then(|| format!("{name} {i}")),
                bot: false,
            }
        })
        .collect();
    let mut users: HashMap<u64, User> = pool.iter().map(|u| (u.id, u.clone())).collect();
    users.insert(bot.id, bot.clone());

    let mut out = BTreeMap::new();
    for g in 0..u64::from(guilds) {
        let guild_id = ids.next();
        let created = crate::snowflake::timestamp_ms(guild_id);
        let mut roles = BTreeMap::new();
        let mut role =
            |id: u64, name: &str, position: i64, permissions: u64, bot_id: Option<u64>| {
                roles.insert(
                    id,
                    Role {
                        id,
                        name: name.to_owned(),
                        position,
                        permissions,
                        managed: bot_id.is_some(),
                        bot_id,
                        color: 0,
                    },
                );
            };
        let (member_role, mod_role, bot_role, admin_role) =
            (ids.next(), ids.next(), ids.next(), ids.next());
        role(guild_id, "@everyone", 0, p::EVERYONE_DEFAULT, None);
        role(member_role, "Member", 1, p::EVERYONE_DEFAULT, None);
        role(
            mod_role,
            "Moderator",
            2,
            p::KICK_MEMBERS
                | p::BAN_MEMBERS
                | p::MODERATE_MEMBERS
                | p::MANAGE_MESSAGES
                | p::VIEW_AUDIT_LOG,
            None,
        );
        role(
            bot_role,
            "Aegis",
            3,
            p::KICK_MEMBERS
                | p::BAN_MEMBERS
                | p::MANAGE_CHANNELS
                | p::MANAGE_ROLES
                | p::MANAGE_MESSAGES
                | p::MANAGE_NICKNAMES
                | p::MANAGE_THREADS
                | p::MODERATE_MEMBERS
                | p::VIEW_AUDIT_LOG
                | p::CREATE_PRIVATE_THREADS
                | p::MANAGE_WEBHOOKS
                | p::EVERYONE_DEFAULT,
            Some(bot.id),
        );
        role(admin_role, "Admin", 4, p::ADMINISTRATOR, None);

        let mut channels = BTreeMap::new();
        let mut chan =
            |id: u64, kind: u8, name: &str, position: i64, parent: Option<u64>, overwrites| {
                channels.insert(
                    id,
                    Channel {
                        id,
                        kind,
                        guild_id: Some(guild_id),
                        name: name.to_owned(),
                        position,
                        topic: None,
                        parent_id: parent,
                        overwrites,
                        rate_limit_per_user: 0,
                        nsfw: false,
                        last_message_id: None,
                        recipient: None,
                        owner_id: None,
                        archived: false,
                        thread_members: Vec::new(),
                    },
                );
            };
        let (text_cat, general, mod_log, tickets_cat) =
            (ids.next(), ids.next(), ids.next(), ids.next());
        let staff_only = vec![
            Overwrite {
                id: guild_id,
                kind: 0,
                allow: 0,
                deny: p::VIEW_CHANNEL,
            },
            Overwrite {
                id: mod_role,
                kind: 0,
                allow: p::VIEW_CHANNEL,
                deny: 0,
            },
        ];
        chan(
            text_cat,
            channel_type::GUILD_CATEGORY,
            "Text Channels",
            0,
            None,
            Vec::new(),
        );
        chan(
            general,
            channel_type::GUILD_TEXT,
            "general",
            0,
            Some(text_cat),
            Vec::new(),
        );
        chan(
            mod_log,
            channel_type::GUILD_TEXT,
            "mod-log",
            1,
            Some(text_cat),
            staff_only.clone(),
        );
        chan(
            tickets_cat,
            channel_type::GUILD_CATEGORY,
            "Tickets",
            1,
            None,
            staff_only,
        );

        let start = usize::try_from(g * (pool_size / 2)).unwrap_or(0);
        let mut guild_members = BTreeMap::new();
        let mut owner_id = bot.id;
        for i in 0..members as usize {
            let user = &pool[(start + i) % pool.len()];
            let mut member_roles = Vec::new();
            if i == 0 {
                owner_id = user.id;
                member_roles.push(admin_role);
            } else {
                if i % 2 == 0 {
                    member_roles.push(member_role);
                }
                if i % 10 == 1 {
                    member_roles.push(mod_role);
                }
            }
            guild_members.insert(
                user.id,
                Member {
                    user_id: user.id,
                    nick: (i % 5 == 3).then(|| format!("nick{i}")),
                    roles: member_roles,
                    joined_at_ms: created + 60_000 * (i as u64 + 1),
                    communication_disabled_until_ms: None,
                    mute: false,
                    deaf: false,
                    status: match rng.below(3) {
                        0 => Status::Online,
                        1 => Status::Idle,
                        _ => Status::Offline,
                    },
                },
            );
        }
        guild_members.insert(
            bot.id,
            Member {
                user_id: bot.id,
                nick: None,
                roles: vec![bot_role],
                joined_at_ms: created + 30_000,
                communication_disabled_until_ms: None,
                mute: false,
                deaf: false,
                status: Status::Online,
            },
        );
        out.insert(
            guild_id,
            Guild {
                id: guild_id,
                name: format!("Sim Guild {g}"),
                owner_id,
                joined_at_ms: created + 30_000,
                system_channel_id: Some(general),
                roles,
                channels,
                threads: BTreeMap::new(),
                members: guild_members,
            },
        );
    }
    let last_id = snowflake(ids.ms, ids.counter);
    World {
        bot,
        application_id,
        users,
        guilds: out,
        last_seeded_id: last_id,
        messages: HashMap::new(),
        bans: HashMap::new(),
        audit_log: HashMap::new(),
        dm_channels: BTreeMap::new(),
        global_commands: Vec::new(),
        guild_commands: HashMap::new(),
    }
}
