//! NATS subject names and builders.

use std::borrow::Cow;

use crate::Namespace;

/// Builds every subject of one [`Namespace`]. `README.md` documents each one.
///
/// | builder | subject (namespace `aegis`) |
/// | --- | --- |
/// | [`interactions`](Self::interactions) | `aegis.interactions` |
/// | [`guild_event`](Self::guild_event) | `aegis.events.guild.{partition}.{EVENT}` |
/// | [`direct_event`](Self::direct_event) | `aegis.events.direct.{EVENT}` |
/// | [`gateway_command`](Self::gateway_command) | `aegis.gateway.commands.{shard}` |
/// | [`job`](Self::job) | `aegis.jobs.{kind}` |
/// | [`dead_letter`](Self::dead_letter) | `aegis.dead.{source}` |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subjects {
    namespace: Namespace,
}

impl Subjects {
    /// Subjects of `namespace`.
    pub fn new(namespace: Namespace) -> Self {
        Self { namespace }
    }

    /// The namespace these subjects live in.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// Every `INTERACTION_CREATE`, from any shard. Order does not matter; any worker takes any one.
    pub fn interactions(&self) -> String {
        format!("{}.interactions", self.namespace)
    }

    /// A dispatch that belongs to a guild, on the guild's partition (see [`crate::partition_of`]).
    pub fn guild_event(&self, partition: u16, event: &str) -> String {
        format!(
            "{}.events.guild.{partition}.{}",
            self.namespace,
            subject_token(event)
        )
    }

    /// The filter that matches every guild event of one partition.
    pub fn guild_partition_filter(&self, partition: u16) -> String {
        format!("{}.events.guild.{partition}.>", self.namespace)
    }

    /// The filter that matches every guild event of every partition.
    pub fn guild_events_filter(&self) -> String {
        format!("{}.events.guild.>", self.namespace)
    }

    /// A dispatch without a guild: direct messages, `READY`, `USER_UPDATE`, ...
    pub fn direct_event(&self, event: &str) -> String {
        format!("{}.events.direct.{}", self.namespace, subject_token(event))
    }

    /// The filter that matches every direct event.
    pub fn direct_events_filter(&self) -> String {
        format!("{}.events.direct.>", self.namespace)
    }

    /// The filter that matches every event, guild or direct (the events stream's subjects).
    pub fn events_filter(&self) -> String {
        format!("{}.events.>", self.namespace)
    }

    /// A gateway command (presence update, request guild members) for the process owning `shard`.
    pub fn gateway_command(&self, shard: u32) -> String {
        format!("{}.gateway.commands.{shard}", self.namespace)
    }

    /// The filter that matches the gateway commands of every shard.
    pub fn gateway_commands_filter(&self) -> String {
        format!("{}.gateway.commands.>", self.namespace)
    }

    /// A due job of `kind` (`unban`, `mute_end`, ...), published by the scheduler.
    pub fn job(&self, kind: &str) -> String {
        format!("{}.jobs.{}", self.namespace, subject_token(kind))
    }

    /// The filter that matches every job.
    pub fn jobs_filter(&self) -> String {
        format!("{}.jobs.>", self.namespace)
    }

    /// A message that failed too many times, from `source` (`interactions`, `events`, `jobs`).
    pub fn dead_letter(&self, source: &str) -> String {
        format!("{}.dead.{}", self.namespace, subject_token(source))
    }

    /// A ticket event of `kind` (`opened`, `claimed`, `closed`, ...): see [`TicketEvent`](crate::TicketEvent).
    pub fn ticket_event(&self, kind: &str) -> String {
        format!("{}.tickets.{}", self.namespace, subject_token(kind))
    }

    /// The filter that matches every ticket event.
    pub fn ticket_events_filter(&self) -> String {
        format!("{}.tickets.>", self.namespace)
    }

    /// The filter that matches every dead letter.
    pub fn dead_letters_filter(&self) -> String {
        format!("{}.dead.>", self.namespace)
    }
}

/// Makes `name` safe as one subject token: characters other than ASCII letters, digits, `_` and
/// `-` become `_`, and an empty name becomes `_`.
///
/// Discord's event names (`GUILD_MEMBER_ADD`) pass unchanged; the sanitising only matters for a
/// name nobody has seen yet, which must still not split or wildcard a subject.
pub fn subject_token(name: &str) -> Cow<'_, str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !name.is_empty() && name.chars().all(ok) {
        return Cow::Borrowed(name);
    }
    if name.is_empty() {
        return Cow::Borrowed("_");
    }
    Cow::Owned(name.chars().map(|c| if ok(c) { c } else { '_' }).collect())
}

/// The JetStream message id (`Nats-Msg-Id`) of a gateway dispatch: `{shard}:{session}:{seq}`.
///
/// Discord replays events after a resume with the same session and sequence number, so a replayed
/// event gets the same id and JetStream's duplicate window drops it.
pub fn event_message_id(shard: u32, session_id: &str, seq: u64) -> String {
    format!("{shard}:{session_id}:{seq}")
}

#[cfg(test)]
mod tests {
    use super::{Subjects, event_message_id, subject_token};
    use crate::Namespace;

    #[test]
    fn subjects_follow_the_documented_layout() {
        let s = Subjects::default();
        assert_eq!(s.interactions(), "aegis.interactions");
        assert_eq!(
            s.guild_event(7, "GUILD_BAN_ADD"),
            "aegis.events.guild.7.GUILD_BAN_ADD"
        );
        assert_eq!(s.guild_partition_filter(7), "aegis.events.guild.7.>");
        assert_eq!(
            s.direct_event("MESSAGE_CREATE"),
            "aegis.events.direct.MESSAGE_CREATE"
        );
        assert_eq!(s.gateway_command(3), "aegis.gateway.commands.3");
        assert_eq!(s.job("unban"), "aegis.jobs.unban");
        assert_eq!(s.dead_letter("jobs"), "aegis.dead.jobs");
    }

    #[test]
    fn namespace_prefixes_every_subject() {
        let ns = Namespace::new("test_1").expect("valid namespace");
        assert_eq!(Subjects::new(ns).jobs_filter(), "test_1.jobs.>");
    }

    #[test]
    fn hostile_names_cannot_split_or_wildcard_a_subject() {
        assert_eq!(subject_token("A.B"), "A_B");
        assert_eq!(subject_token("*"), "_");
        assert_eq!(subject_token(">"), "_");
        assert_eq!(subject_token("has space"), "has_space");
        assert_eq!(subject_token(""), "_");
        assert_eq!(subject_token("GUILD_CREATE"), "GUILD_CREATE");
    }

    #[test]
    fn message_ids_identify_shard_session_and_sequence() {
        assert_eq!(event_message_id(2, "abc", 41), "2:abc:41");
    }
}
