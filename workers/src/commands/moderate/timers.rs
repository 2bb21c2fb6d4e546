//! The timers a member action sets or ends, written in the transaction of its case.
//!
//! One key per guild, member and kind (`unban:{guild}:{user}`, ...), so a new action replaces the
//! old expiry and a lifting action cancels it.

use std::time::{Duration, SystemTime};

use aegis_storage::NewTimer;

use super::check::{Checked, MAX_TIMEOUT};
use super::{Action, MuteBy};

/// A timeout mute is renewed this long after it is set, a day before Discord would lift it.
pub(crate) const RENEW_AFTER: Duration = Duration::from_secs(27 * 86_400);

/// What an action does to a timer.
#[derive(Debug, PartialEq)]
pub(crate) enum TimerChange {
    /// Schedule it, replacing the timer of the same key.
    Schedule(NewTimer),
    /// Cancel the pending timer of this key.
    Cancel(String),
}

/// The key of the timer that lifts a temp-ban.
pub(crate) fn unban_key(guild: u64, user: u64) -> String {
    format!("unban:{guild}:{user}")
}

/// The key of the timer that ends a role mute.
pub(crate) fn unmute_key(guild: u64, user: u64) -> String {
    format!("unmute:{guild}:{user}")
}

/// The key of the timer that renews a timeout mute past Discord's 28 days.
pub(crate) fn renew_key(guild: u64, user: u64) -> String {
    format!("timeout_renew:{guild}:{user}")
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The timer changes of `action`, whose case is numbered `case` (row id `case_id`), at `now`.
pub(crate) fn changes(
    action: Action,
    checked: &Checked,
    (case_id, case): (i64, i32),
    now: SystemTime,
) -> Vec<TimerChange> {
    let (guild, user) = (checked.guild_id, checked.target);
    let user_id = user.to_string();
    let timer = |kind: &str, key: String, due_at, payload| {
        TimerChange::Schedule(NewTimer {
            kind: kind.to_owned(),
            guild_id: Some(guild),
            payload,
            due_at,
            dedupe_key: key,
        })
    };
    match (action, checked.mute, checked.duration) {
        (Action::Ban, _, Some(length)) => vec![timer(
            "unban",
            unban_key(guild, user),
            now + length,
            serde_json::json!({ "user_id": user_id, "case": case }),
        )],
        // A permanent ban or an unban ends any pending temp-ban expiry.
        (Action::Ban, _, None) | (Action::Unban, _, _) => {
            vec![TimerChange::Cancel(unban_key(guild, user))]
        }
        (Action::Mute, MuteBy::Role(role), Some(length)) => vec![timer(
            "unmute",
            unmute_key(guild, user),
            now + length,
            serde_json::json!({ "user_id": user_id, "role_id": role.to_string(), "case": case }),
        )],
        (Action::Mute, MuteBy::Role(_), None) => vec![TimerChange::Cancel(unmute_key(guild, user))],
        // Discord lifts a timeout mute of up to 28 days itself; a longer or endless one is
        // renewed before it runs out.
        (Action::Mute, MuteBy::Timeout, length) if length.is_none_or(|l| l > MAX_TIMEOUT) => {
            vec![timer(
                "timeout_renew",
                renew_key(guild, user),
                now + RENEW_AFTER,
                serde_json::json!({
                    "user_id": user_id,
                    "until": length.map(|l| unix_secs(now + l)),
                    "case": case,
                }),
            )]
        }
        (Action::Mute | Action::Timeout | Action::Untimeout, MuteBy::Timeout, _)
        | (Action::Timeout | Action::Untimeout, MuteBy::Role(_), _) => {
            vec![TimerChange::Cancel(renew_key(guild, user))]
        }
        (Action::Unmute, _, _) => vec![
            TimerChange::Cancel(unmute_key(guild, user)),
            TimerChange::Cancel(renew_key(guild, user)),
        ],
        (Action::Warn, _, _) => match checked.settings.warn_expiry_days {
            // Where the guild set an expiry, the warning stops counting after it.
            Some(days) => vec![timer(
                "warn_expiry",
                format!("warn_expiry:{case_id}"),
                now + Duration::from_secs(u64::from(days) * 86_400),
                serde_json::json!({ "case_id": case_id }),
            )],
            None => Vec::new(),
        },
        (Action::Note | Action::Kick | Action::Softban, _, _) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use aegis_storage::GuildSettings;

    use super::super::check::Checked;
    use super::super::{Action, MuteBy};
    use super::{RENEW_AFTER, TimerChange, changes};

    fn checked(mute: MuteBy, days: Option<u64>) -> Checked {
        Checked {
            guild_id: 1,
            guild_name: "g".into(),
            moderator: 2,
            target: 3,
            reason: None,
            duration: days.map(|d| Duration::from_secs(d * 86_400)),
            delete_seconds: 0,
            mute,
            settings: GuildSettings::default(),
        }
    }

    fn scheduled(change: &TimerChange) -> (&str, SystemTime, &serde_json::Value) {
        match change {
            TimerChange::Schedule(t) => (t.dedupe_key.as_str(), t.due_at, &t.payload),
            TimerChange::Cancel(key) => panic!("expected a schedule, got a cancel of {key}"),
        }
    }

    #[test]
    fn a_long_timeout_mute_is_renewed_before_discord_lifts_it() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let long = changes(
            Action::Mute,
            &checked(MuteBy::Timeout, Some(60)),
            (10, 7),
            now,
        );
        let (key, due, payload) = scheduled(&long[0]);
        assert_eq!(key, "timeout_renew:1:3");
        assert_eq!(due, now + RENEW_AFTER);
        assert_eq!(payload["until"], 1_000_000 + 60 * 86_400);
        let endless = changes(Action::Mute, &checked(MuteBy::Timeout, None), (10, 7), now);
        assert_eq!(scheduled(&endless[0]).2["until"], serde_json::Value::Null);
        let short = changes(
            Action::Mute,
            &checked(MuteBy::Timeout, Some(3)),
            (10, 7),
            now,
        );
        assert_eq!(short, vec![TimerChange::Cancel("timeout_renew:1:3".into())]);
    }

    #[test]
    fn a_role_mute_ends_by_timer_and_unmute_cancels_both_kinds() {
        let now = SystemTime::now();
        let muted = changes(
            Action::Mute,
            &checked(MuteBy::Role(9), Some(2)),
            (10, 1),
            now,
        );
        let (key, _, payload) = scheduled(&muted[0]);
        assert_eq!(key, "unmute:1:3");
        assert_eq!(payload["role_id"], "9");
        let lifted = changes(
            Action::Unmute,
            &checked(MuteBy::Role(9), None),
            (10, 2),
            now,
        );
        assert_eq!(
            lifted,
            vec![
                TimerChange::Cancel("unmute:1:3".into()),
                TimerChange::Cancel("timeout_renew:1:3".into())
            ]
        );
    }
}
