//! Failed-login throttling, per username and per client address, in memory.
//! Each server process counts its own failures; behind several processes an
//! attacker gets at most that many times the allowance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per username in a window.
const PER_USER: u32 = 5;
/// Failures allowed per address in a window.
const PER_ADDRESS: u32 = 20;
/// The window.
const WINDOW: Duration = Duration::from_secs(300);
/// Entries kept before old windows are swept.
const SWEEP_AT: usize = 10_000;

/// Counts failed logins.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    /// Seconds to wait before `username` may try again from `address`, if blocked.
    pub fn blocked_for(&self, username: &str, address: &str) -> Option<u64> {
        let now = Instant::now();
        let failures = self.failures.lock().ok()?;
        [
            (user_key(username), PER_USER),
            (address_key(address), PER_ADDRESS),
        ]
        .into_iter()
        .filter_map(|(key, limit)| {
            let (count, since) = failures.get(&key)?;
            let elapsed = now.duration_since(*since);
            (*count >= limit && elapsed < WINDOW).then(|| (WINDOW - elapsed).as_secs().max(1))
        })
        .max()
    }

    /// Records a failed attempt.
    pub fn failed(&self, username: &str, address: &str) {
        let now = Instant::now();
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        for key in [user_key(username), address_key(address)] {
            let entry = failures.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }

    /// Forgets a username's failures after a successful login.
    pub fn succeeded(&self, username: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&user_key(username));
        }
    }
}

fn user_key(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("addr:{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_block_the_username_and_success_unblocks() {
        let throttle = LoginThrottle::default();
        for _ in 0..PER_USER {
            assert_eq!(throttle.blocked_for("li.wei", "10.0.0.1"), None);
            throttle.failed("li.wei", "10.0.0.1");
        }
        assert!(throttle.blocked_for("li.wei", "10.0.0.2").is_some());
        assert_eq!(throttle.blocked_for("wang.fang", "10.0.0.2"), None);
        throttle.succeeded("li.wei");
        assert_eq!(throttle.blocked_for("li.wei", "10.0.0.2"), None);
    }
}
