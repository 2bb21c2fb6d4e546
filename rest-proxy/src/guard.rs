//! Requests refused before they reach Discord: poisoned tokens and webhooks, and the
//! invalid-request guard.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

/// What this process refuses locally.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    tokens: Mutex<HashSet<String>>,
    webhooks: Mutex<HashSet<String>>,
    /// Invalid requests in the 10-minute window, as last computed.
    invalid: AtomicU32,
}

impl Guard {
    /// Stops forwarding for `token` (after a 401), until restart or reload.
    pub(crate) fn poison_token(&self, token: &str) -> bool {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.to_owned())
    }

    /// Whether `token` got a 401.
    pub(crate) fn token_poisoned(&self, token: &str) -> bool {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(token)
    }

    /// Stops forwarding to `webhook` (`id` or `id:token`, after a 404).
    pub(crate) fn poison_webhook(&self, webhook: &str) -> bool {
        self.webhooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(webhook.to_owned())
    }

    /// Whether `webhook` (or its id alone) got a 404.
    pub(crate) fn webhook_poisoned(&self, webhook: &str) -> bool {
        let webhooks = self.webhooks.lock().unwrap_or_else(PoisonError::into_inner);
        webhooks.contains(webhook)
            || webhook
                .split_once(':')
                .is_some_and(|(id, _)| webhooks.contains(id))
    }

    /// Forgets every poisoned token and webhook (a reload: the operator fixed the token or the
    /// webhooks); returns how many of each were forgiven.
    pub(crate) fn forgive(&self) -> (usize, usize) {
        let tokens =
            std::mem::take(&mut *self.tokens.lock().unwrap_or_else(PoisonError::into_inner));
        let webhooks =
            std::mem::take(&mut *self.webhooks.lock().unwrap_or_else(PoisonError::into_inner));
        (tokens.len(), webhooks.len())
    }

    /// Sets the invalid-request count of the window.
    pub(crate) fn set_invalid(&self, count: u32) {
        self.invalid.store(count, Ordering::Relaxed);
    }

    /// The invalid-request count of the window.
    pub(crate) fn invalid(&self) -> u32 {
        self.invalid.load(Ordering::Relaxed)
    }
}

/// FNV-1a of a token: stable across processes and versions, so instances share keys without
/// writing the token itself to Redis or logs.
pub(crate) fn token_id(token: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in token.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::{Guard, token_id};

    #[test]
    fn poisoning() {
        let guard = Guard::default();
        assert!(!guard.webhook_poisoned("1:abc"));
        guard.poison_webhook("1:abc");
        assert!(guard.webhook_poisoned("1:abc"));
        assert!(!guard.webhook_poisoned("1:other"));
        guard.poison_webhook("2");
        assert!(guard.webhook_poisoned("2:any"));
        guard.poison_token("t");
        assert!(guard.token_poisoned("t"));
        assert_eq!(guard.forgive(), (1, 2));
        assert!(!guard.token_poisoned("t") && !guard.webhook_poisoned("2:any"));
        assert_eq!(token_id("a"), token_id("a"));
        assert_ne!(token_id("a"), token_id("b"));
    }
}
