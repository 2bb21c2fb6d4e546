//! State shared by the HTTP server, the gateway and the control API.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::counters::Counters;
use crate::gateway::Gateway;
use crate::snowflake::SnowflakeGen;
use crate::world::World;

/// Everything one simulator instance shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) world: RwLock<World>,
    pub(crate) gateway: Gateway,
    pub(crate) counters: Counters,
    pub(crate) ids: SnowflakeGen,
    pub(crate) addr: SocketAddr,
    pub(crate) shutdown: CancellationToken,
    pub(crate) ratelimits: crate::rest::ratelimit::RateLimits,
    pub(crate) interactions: crate::rest::interactions::Interactions,
    pub(crate) calls: Mutex<VecDeque<crate::rest::RestCall>>,
    pub(crate) oauth: crate::rest::OAuth,
    /// Attachment bytes served at their `url` (not part of the world or its scenario).
    pub(crate) cdn: crate::cdn::Cdn,
    /// The bot's user id, cached for the dispatch hot path.
    bot_id: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: Config, addr: SocketAddr, shutdown: CancellationToken) -> Self {
        let world = config
            .scenario
            .clone()
            .unwrap_or_else(|| World::seeded(config.seed, config.guilds, config.members));
        let ids = SnowflakeGen::default();
        ids.observe(world.last_seeded_id);
        Self {
            bot_id: std::sync::atomic::AtomicU64::new(world.bot.id),
            gateway: Gateway::new(&config),
            world: RwLock::new(world),
            counters: Counters::default(),
            ids,
            addr,
            shutdown,
            ratelimits: crate::rest::ratelimit::RateLimits::new(config.ratelimits.clone()),
            interactions: crate::rest::interactions::Interactions::default(),
            calls: Mutex::new(VecDeque::new()),
            oauth: crate::rest::OAuth::default(),
            cdn: crate::cdn::Cdn::default(),
            config,
        }
    }

    pub(crate) fn world_read(&self) -> RwLockReadGuard<'_, World> {
        self.world
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn world_write(&self) -> RwLockWriteGuard<'_, World> {
        self.world
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Routes a dispatch to the sessions that should get it; returns how many did. Event names
    /// other than `[A-Z0-9_]+` are refused (they are written into the payload verbatim).
    pub(crate) fn dispatch(
        &self,
        event: &str,
        guild_id: Option<u64>,
        data: &serde_json::Value,
    ) -> usize {
        if event.is_empty()
            || !event
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            tracing::warn!(event, "refusing to dispatch an invalid event name");
            return 0;
        }
        let bot_id = self.bot_id.load(std::sync::atomic::Ordering::Relaxed);
        self.gateway
            .dispatch(&self.counters, bot_id, event, guild_id, data)
    }

    /// Replaces the world.
    pub(crate) fn set_world(&self, world: World) {
        self.ids.observe(world.last_seeded_id);
        self.bot_id
            .store(world.bot.id, std::sync::atomic::Ordering::Relaxed);
        *self.world_write() = world;
    }

    /// Appends to the REST call log, dropping the oldest beyond capacity.
    pub(crate) fn log_call(&self, call: crate::rest::RestCall) {
        let mut calls = self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if calls.len() >= self.config.call_log_capacity.max(1) {
            calls.pop_front();
        }
        calls.push_back(call);
    }

    /// `http://addr`: the simulator's base URL (attachment URLs start with it).
    pub(crate) fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://host:port` of the gateway, as seen by a client that used `host` (the Host header).
    pub(crate) fn gateway_url(&self, host: Option<&str>) -> String {
        match host {
            Some(h) if !h.is_empty() => format!("ws://{h}"),
            _ => format!("ws://{}", self.addr),
        }
    }
}
