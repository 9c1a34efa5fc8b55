//! Failed-login throttling, in memory: guessing passwords is slowed down,
//! and nobody can lock out a user who has the right password on a device
//! that logged in before. The rules and the reasons are in
//! `docs/login-throttling.md`; in short:
//!
//! - Every attempt is counted against the pair of the username (in any
//!   case) and the client address (an IPv6 address by its /64). Five
//!   failures are free; after that the pair waits 5 s, then 10 s, 20 s, ...
//!   up to 15 minutes between tries, and a try while it waits is a 429 that
//!   costs no password check and does not lengthen the wait.
//! - A device (its `device_id` and address) that logged in with a username
//!   is trusted with it for 30 days: its attempts count against itself
//!   alone, so nobody elsewhere can slow it down.
//! - The other attempts also count against two budgets shared by untrusted
//!   clients: 20 failures per username (a botnet guessing one password from
//!   many addresses) and 50 per address (one address spraying many
//!   usernames). A spent budget slows untrusted clients only.
//!
//! An attempt is counted when it starts, before its password is checked,
//! so concurrent guesses cannot slip through together; a success takes the
//! count back. Each table holds at most [`MAX_ENTRIES`] keys of fixed size;
//! when one is full the entries idle longest go first. Each server process
//! counts on its own: behind several, an attacker gets that many times the
//! allowance.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Keys kept per table (about 100 bytes each).
pub const MAX_ENTRIES: usize = 100_000;

/// How long a device that logged in stays trusted.
const TRUSTED_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// How failures turn into waits.
struct Policy {
    /// Failures before the first wait.
    free: u32,
    /// The first wait; each further failure doubles it.
    first_wait: Duration,
    /// The longest wait.
    max_wait: Duration,
    /// Failures are forgotten this long after the last one.
    forget_after: Duration,
}

/// A username at an address, or a trusted device.
const PAIR: Policy = Policy {
    free: 5,
    first_wait: Duration::from_secs(5),
    max_wait: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(3600),
};

/// A username, over every untrusted client.
const USERNAME: Policy = Policy {
    free: 20,
    first_wait: Duration::from_secs(5),
    max_wait: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(24 * 3600),
};

/// An address, over every untrusted client at it.
const ADDRESS: Policy = Policy {
    free: 50,
    first_wait: Duration::from_secs(5),
    max_wait: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(3600),
};

impl Policy {
    /// How long `bucket` must still wait at `now`, if at all.
    fn wait(&self, bucket: &Bucket, now: Instant) -> Option<Duration> {
        let since = now.saturating_duration_since(bucket.last);
        if since >= self.forget_after || bucket.failures < self.free {
            return None;
        }
        let doublings = (bucket.failures - self.free).min(16);
        let wait = self
            .first_wait
            .saturating_mul(1 << doublings)
            .min(self.max_wait);
        wait.checked_sub(since).filter(|left| !left.is_zero())
    }
}

/// Failures counted against one key.
#[derive(Clone, Copy)]
struct Bucket {
    failures: u32,
    last: Instant,
}

/// A username, hashed: keys have a fixed size whatever a client sends.
type UserKey = [u8; 16];

/// A client address; IPv6 by its /64, which one subscriber usually holds whole.
type AddressKey = IpAddr;

/// A device id, hashed.
type DeviceKey = [u8; 16];

/// Whose failures a bucket counts.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// A username at an address, from a device not trusted with it.
    Pair(UserKey, AddressKey),
    /// A device trusted with a username.
    Device(UserKey, AddressKey, DeviceKey),
    /// A username, over every untrusted client.
    Username(UserKey),
    /// An address, over every untrusted client at it.
    Address(AddressKey),
}

impl Key {
    fn policy(&self) -> &'static Policy {
        match self {
            Self::Pair(..) | Self::Device(..) => &PAIR,
            Self::Username(_) => &USERNAME,
            Self::Address(_) => &ADDRESS,
        }
    }
}

/// A login attempt: who it names and where it comes from.
#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    /// The username as sent.
    pub username: &'a str,
    /// The client's address.
    pub address: IpAddr,
    /// The device id as sent.
    pub device_id: &'a str,
}

impl Attempt<'_> {
    fn user(&self) -> UserKey {
        digest(&self.username.to_lowercase())
    }

    fn address(&self) -> AddressKey {
        match self.address {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(self.address, IpAddr::V4),
            IpAddr::V4(_) => self.address,
        }
    }

    fn device(&self) -> DeviceKey {
        digest(self.device_id)
    }
}

fn digest(text: &str) -> [u8; 16] {
    let hash = Sha256::digest(text.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&hash[..16]);
    key
}

/// An attempt under way: the keys it was counted against.
#[must_use = "end it with LoginThrottle::succeeded, failed or abandoned"]
pub struct Charged {
    keys: Vec<Key>,
    device: (UserKey, AddressKey, DeviceKey),
}

/// The counters.
struct Tables {
    buckets: HashMap<Key, Bucket>,
    trusted: HashMap<(UserKey, AddressKey, DeviceKey), Instant>,
}

/// Counts login attempts; see the module doc.
pub struct LoginThrottle {
    tables: Mutex<Tables>,
    max_entries: usize,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::with_capacity(MAX_ENTRIES)
    }
}

impl LoginThrottle {
    /// A throttle keeping at most `max_entries` buckets and as many trusted devices.
    pub fn with_capacity(max_entries: usize) -> Self {
        Self {
            tables: Mutex::new(Tables {
                buckets: HashMap::new(),
                trusted: HashMap::new(),
            }),
            max_entries: max_entries.max(1),
        }
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // The tables stay consistent whatever panicked while holding them.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts an attempt: counted against its keys now, or, when one of them
    /// must still wait, the seconds to wait (rounded up) and nothing counted.
    pub fn begin(&self, attempt: Attempt<'_>) -> Result<Charged, u64> {
        let now = Instant::now();
        let mut tables = self.tables();
        let (user, address, device) = (attempt.user(), attempt.address(), attempt.device());
        let trusted = tables
            .trusted
            .get(&(user, address, device))
            .is_some_and(|since| now.saturating_duration_since(*since) < TRUSTED_FOR);
        let keys = if trusted {
            vec![Key::Device(user, address, device)]
        } else {
            vec![
                Key::Pair(user, address),
                Key::Username(user),
                Key::Address(address),
            ]
        };
        let wait = keys
            .iter()
            .filter_map(|key| {
                let bucket = tables.buckets.get(key)?;
                key.policy().wait(bucket, now)
            })
            .max();
        if let Some(wait) = wait {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(seconds.max(1));
        }
        for key in &keys {
            if !tables.buckets.contains_key(key) && tables.buckets.len() >= self.max_entries {
                make_room(&mut tables.buckets, self.max_entries, |bucket| bucket.last);
            }
            let bucket = tables.buckets.entry(*key).or_insert(Bucket {
                failures: 0,
                last: now,
            });
            if now.saturating_duration_since(bucket.last) >= key.policy().forget_after {
                bucket.failures = 0;
            }
            bucket.failures = bucket.failures.saturating_add(1);
            bucket.last = now;
        }
        Ok(Charged {
            keys,
            device: (user, address, device),
        })
    }

    /// The password was wrong: the attempt stays counted, and the waits
    /// run from now, after the check.
    pub fn failed(&self, charged: Charged) {
        let now = Instant::now();
        let mut tables = self.tables();
        for key in &charged.keys {
            if let Some(bucket) = tables.buckets.get_mut(key) {
                bucket.last = now;
            }
        }
    }

    /// The password could not be checked (the server was busy): the
    /// attempt is taken back.
    pub fn abandoned(&self, charged: Charged) {
        let mut tables = self.tables();
        for key in &charged.keys {
            if let Some(bucket) = tables.buckets.get_mut(key) {
                bucket.failures = bucket.failures.saturating_sub(1);
            }
        }
    }

    /// The right password: the pair's or device's failures are forgotten,
    /// the attempt is taken back from the shared budgets, and the device
    /// is trusted with the username from now on.
    pub fn succeeded(&self, charged: Charged) {
        let now = Instant::now();
        let mut tables = self.tables();
        for key in &charged.keys {
            match key {
                Key::Pair(..) | Key::Device(..) => {
                    tables.buckets.remove(key);
                }
                Key::Username(_) | Key::Address(_) => {
                    if let Some(bucket) = tables.buckets.get_mut(key) {
                        bucket.failures = bucket.failures.saturating_sub(1);
                    }
                }
            }
        }
        if !tables.trusted.contains_key(&charged.device) && tables.trusted.len() >= self.max_entries
        {
            make_room(&mut tables.trusted, self.max_entries, |since| *since);
        }
        tables.trusted.insert(charged.device, now);
    }

    /// Keys held: buckets, then trusted devices.
    pub fn sizes(&self) -> (usize, usize) {
        let tables = self.tables();
        (tables.buckets.len(), tables.trusted.len())
    }
}

/// Drops the tenth of `map` idle longest (by `stamp`), so that a full table
/// takes a sort of its stamps once per tenth of its size in new keys.
fn make_room<K: Clone + Eq + Hash, V>(
    map: &mut HashMap<K, V>,
    max_entries: usize,
    stamp: impl Fn(&V) -> Instant,
) {
    let mut stamps: Vec<Instant> = map.values().map(&stamp).collect();
    let drop = (max_entries / 10).max(1).min(stamps.len());
    if drop == 0 {
        return;
    }
    let (_, cutoff, _) = stamps.select_nth_unstable(drop - 1);
    let cutoff = *cutoff;
    let mut dropped = 0;
    map.retain(|_, value| {
        if dropped < drop && stamp(value) <= cutoff {
            dropped += 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn attempt<'a>(username: &'a str, last: u8, device_id: &'a str) -> Attempt<'a> {
        Attempt {
            username,
            address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            device_id,
        }
    }

    fn fail(throttle: &LoginThrottle, attempt: Attempt<'_>) -> Result<(), u64> {
        throttle
            .begin(attempt)
            .map(|charged| throttle.failed(charged))
    }

    #[test]
    fn five_failures_are_free_and_then_the_pair_waits_longer_each_time() {
        let throttle = LoginThrottle::default();
        for _ in 0..PAIR.free {
            assert_eq!(fail(&throttle, attempt("li.wei", 1, "x")), Ok(()));
        }
        assert_eq!(fail(&throttle, attempt("LI.WEI", 1, "y")), Err(5));
        // Elsewhere, the username is not slowed.
        assert_eq!(fail(&throttle, attempt("li.wei", 2, "x")), Ok(()));
        let now = Instant::now();
        let bucket = |failures| Bucket {
            failures,
            last: now,
        };
        let waits: Vec<u64> = (5..12)
            .map(|n| PAIR.wait(&bucket(n), now).map_or(0, |w| w.as_secs()))
            .collect();
        assert!(
            waits.windows(2).all(|w| w[1] == (w[0] * 2).min(900)),
            "{waits:?}"
        );
        assert_eq!(PAIR.wait(&bucket(40), now), Some(PAIR.max_wait));
    }

    #[test]
    fn a_device_that_logged_in_is_not_slowed_by_failures_elsewhere() {
        let throttle = LoginThrottle::default();
        let phone = attempt("li.wei", 1, "phone");
        throttle.succeeded(
            throttle
                .begin(phone)
                .unwrap_or_else(|_| panic!("first try")),
        );
        for last in 2..12 {
            for _ in 0..PAIR.free {
                let _ = fail(&throttle, attempt("li.wei", last, "phone"));
            }
        }
        assert!(throttle.begin(attempt("li.wei", 20, "new")).is_err());
        assert!(throttle.begin(phone).is_ok());
    }

    #[test]
    fn the_tables_stay_within_their_capacity_under_random_usernames() {
        let throttle = LoginThrottle::with_capacity(1_000);
        for n in 0..5_000u32 {
            let username = format!("random-{n}");
            let [_, _, a, b] = n.to_be_bytes();
            let address = IpAddr::V4(Ipv4Addr::new(10, 1, a, b));
            let charged = throttle.begin(Attempt {
                username: &username,
                address,
                device_id: "x",
            });
            if let Ok(charged) = charged {
                if n % 2 == 0 {
                    throttle.succeeded(charged);
                } else {
                    throttle.failed(charged);
                }
            }
            let (buckets, trusted) = throttle.sizes();
            assert!(buckets <= 1_000 && trusted <= 1_000, "{buckets}, {trusted}");
        }
    }

    #[test]
    fn an_ipv6_subscriber_is_one_address_whatever_its_interface_id() {
        let one = |text: &str| Attempt {
            username: "li.wei",
            address: text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            device_id: "x",
        };
        assert_eq!(
            one("2001:db8:1:2::1").address(),
            one("2001:db8:1:2:ffff:1:2:3").address()
        );
        assert_ne!(
            one("2001:db8:1:2::1").address(),
            one("2001:db8:1:3::1").address()
        );
        assert_eq!(one("::ffff:10.0.0.1").address(), one("10.0.0.1").address());
    }
}
