//! Who may hold HTTP sessions, and for how long.
//!
//! Sessions cost memory until they end, and opening one takes a single
//! `initialize` without credentials, so the table defends itself:
//!
//! * **per client** ([`ServerConfig::max_sessions_per_client`]): a client (its
//!   authenticated subject, else its IP address, an IPv6 address by its /64) holds
//!   at most so many; one more is refused with `429`;
//! * **half-open sessions** (no `notifications/initialized` and no request after
//!   `initialize`) are dropped [`ServerConfig::session_handshake_timeout`] after
//!   they were opened; established ones after [`ServerConfig::session_idle`] unused;
//! * **a full table** ([`ServerConfig::max_sessions`]) makes room instead of refusing
//!   everyone: the oldest half-open session goes first, then the least recently used
//!   established one, those whose standalone stream is being read last. A session
//!   with a call running is never evicted (that would cancel work under way); when
//!   every session is busy, `initialize` gets `503`.
//!
//! Nothing here is O(sessions) per request: half-open sessions are kept in the order
//! they were opened (expired and evicted from the front), and one scan for the least
//! recently used sessions yields a batch of eviction candidates, rechecked when used.
//! The periodic sweep ([`Shared::sweep_sessions`]) is the only full pass.
//!
//! [`ServerConfig::max_sessions_per_client`]: crate::ServerConfig::max_sessions_per_client
//! [`ServerConfig::session_handshake_timeout`]: crate::ServerConfig::session_handshake_timeout
//! [`ServerConfig::session_idle`]: crate::ServerConfig::session_idle
//! [`ServerConfig::max_sessions`]: crate::ServerConfig::max_sessions

use crate::server::Shared;
use crate::session::{lock, Session};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Bookkeeping beside `Shared::sessions` (always locked after it).
#[derive(Default)]
pub(crate) struct SessionIndex {
    /// Sessions held per client key.
    per_client: HashMap<String, usize>,
    /// HTTP sessions in the order they were opened (`created_ms`, id); established
    /// ones are skipped (and dropped) when met at the front.
    by_age: VecDeque<(u64, String)>,
    /// Eviction candidates from the last scan, best last: (id, `last_used` then).
    lru: Vec<(String, u64)>,
}

/// Why a new session was not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The client holds its maximum.
    ClientLimit { limit: usize },
    /// The table is full of sessions with calls running.
    Full { max: usize },
    /// The shared session store could not be reached.
    Store(String),
}

/// The per-client key of a caller: its subject, else its address (IPv6 by /64 prefix,
/// which one host usually has whole). Built without `format!` (it runs on every request).
pub(crate) fn client_key(subject: Option<&str>, peer: Option<IpAddr>) -> Option<String> {
    if let Some(s) = subject {
        return Some(["subject:", s].concat());
    }
    let v4 = match peer? {
        IpAddr::V4(a) => a,
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4,
            None => {
                let s = a.segments();
                return Some(format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]));
            }
        },
    };
    let mut key = String::with_capacity(18);
    key.push_str("ip:");
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            key.push('.');
        }
        if octet >= 100 {
            key.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            key.push(char::from(b'0' + octet / 10 % 10));
        }
        key.push(char::from(b'0' + octet % 10));
    }
    Some(key)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How often the periodic sweep runs: often enough for the shortest expiry.
pub(crate) fn sweep_period(handshake: Duration, idle: Duration) -> Duration {
    (handshake / 2).min(idle / 2).min(Duration::from_secs(30)).max(Duration::from_millis(10))
}

impl Shared {
    /// Put an HTTP session in the table, making room when it is full; the copy already
    /// there when another request adopted it first. With a shared session store, the
    /// per-client limit is the store's (see `shared_sessions.rs`).
    pub(crate) fn admit_session(&self, session: Arc<Session>, now: u64) -> Result<Arc<Session>, Refusal> {
        let config = &self.config;
        let mut gone = Vec::new();
        let admitted = {
            let mut sessions = lock(&self.sessions);
            let mut index = lock(&self.session_index);
            index.expire_half_open(&mut sessions, now.saturating_sub(ms(config.session_handshake_timeout)), &mut gone);
            let limit = if self.sessions_shared() { 0 } else { config.max_sessions_per_client };
            let held = session.client.as_ref().map_or(0, |c| index.per_client.get(c).copied().unwrap_or(0));
            if let Some(there) = sessions.get(&session.id) {
                Ok(there.clone())
            } else if limit > 0 && held >= limit {
                Err(Refusal::ClientLimit { limit })
            } else {
                let mut room = true;
                while sessions.len() >= config.max_sessions.max(1) {
                    match index.victim(&sessions) {
                        Some(id) => gone.extend(index.remove(&mut sessions, &id)),
                        None => {
                            room = false;
                            break;
                        }
                    }
                }
                if room {
                    index.add(&session);
                    sessions.insert(session.id.clone(), session.clone());
                    Ok(session)
                } else {
                    Err(Refusal::Full { max: config.max_sessions })
                }
            }
        };
        for s in gone {
            tracing::debug!(session = %s.id, "session dropped to make room");
            s.close();
        }
        admitted
    }

    /// Take a session out of the table (DELETE); `None` if it was not there.
    pub(crate) fn remove_session(&self, id: &str) -> Option<Arc<Session>> {
        let mut sessions = lock(&self.sessions);
        lock(&self.session_index).remove(&mut sessions, id)
    }

    /// Drop expired HTTP sessions: established ones unused for `session_idle`, half-open
    /// ones older than `session_handshake_timeout`. The periodic sweep (a full pass).
    pub fn sweep_sessions(&self) {
        let now = ferry_protocol::time_fmt::now_ms();
        let idle_cutoff = now.saturating_sub(ms(self.config.session_idle));
        let open_cutoff = now.saturating_sub(ms(self.config.session_handshake_timeout));
        let mut gone = Vec::new();
        {
            let mut sessions = lock(&self.sessions);
            let mut index = lock(&self.session_index);
            index.expire_half_open(&mut sessions, open_cutoff, &mut gone);
            let idle: Vec<String> = sessions
                .values()
                .filter(|s| s.http && s.last_seen() < idle_cutoff && !s.busy())
                .map(|s| s.id.clone())
                .collect();
            for id in idle {
                gone.extend(index.remove(&mut sessions, &id));
            }
        }
        for s in gone {
            tracing::debug!(session = %s.id, "session expired");
            s.close();
        }
    }
}

impl SessionIndex {
    fn add(&mut self, s: &Session) {
        if let Some(c) = &s.client {
            *self.per_client.entry(c.clone()).or_default() += 1;
        }
        self.by_age.push_back((s.created_ms, s.id.clone()));
    }

    /// Take `id` out of the table and the counts.
    fn remove(&mut self, sessions: &mut HashMap<String, Arc<Session>>, id: &str) -> Option<Arc<Session>> {
        let s = sessions.remove(id)?;
        if let Some(c) = &s.client {
            if let Some(n) = self.per_client.get_mut(c) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_client.remove(c);
                }
            }
        }
        Some(s)
    }

    /// Drop half-open sessions opened before `cutoff` (amortized O(1): each session
    /// passes the front of `by_age` once).
    fn expire_half_open(
        &mut self,
        sessions: &mut HashMap<String, Arc<Session>>,
        cutoff: u64,
        gone: &mut Vec<Arc<Session>>,
    ) {
        while let Some((created, id)) = self.by_age.front() {
            if *created >= cutoff {
                break;
            }
            let half_open = sessions.get(id).is_some_and(|s| !s.established() && !s.busy());
            let id = id.clone();
            self.by_age.pop_front();
            if half_open {
                gone.extend(self.remove(sessions, &id));
            }
        }
    }

    /// The session to evict: the oldest half-open one, else the least recently used
    /// established one that is not busy (listened-to ones last). `None`: all are busy.
    fn victim(&mut self, sessions: &HashMap<String, Arc<Session>>) -> Option<String> {
        while let Some((_, id)) = self.by_age.front() {
            let id = id.clone();
            match sessions.get(&id) {
                Some(s) if !s.established() && !s.busy() => return Some(id),
                // Busy: its request makes it established; it is met again in the LRU scan.
                _ => {
                    self.by_age.pop_front();
                }
            }
        }
        for rescanned in [false, true] {
            if rescanned {
                self.scan(sessions);
            }
            while let Some((id, seen)) = self.lru.pop() {
                // Still there, not used since the scan, not busy now.
                if sessions.get(&id).is_some_and(|s| s.last_used() == seen && !s.busy()) {
                    return Some(id);
                }
            }
        }
        None
    }

    /// Refill `lru` with the least recently used idle sessions: a batch of 1/64 of the
    /// table (at least 16), so a full scan is paid once per batch of evictions.
    fn scan(&mut self, sessions: &HashMap<String, Arc<Session>>) {
        let mut candidates: Vec<(bool, u64, String)> = sessions
            .values()
            .filter(|s| s.http && !s.busy())
            .map(|s| (s.listened(), s.last_used(), s.id.clone()))
            .collect();
        let batch = (sessions.len() / 64).max(16).min(candidates.len());
        if batch < candidates.len() {
            candidates.select_nth_unstable(batch);
            candidates.truncate(batch);
        }
        candidates.sort_unstable();
        self.lru = candidates.into_iter().rev().map(|(_, seen, id)| (id, seen)).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn clients_are_subjects_else_addresses_with_ipv6_by_prefix() {
        assert_eq!(client_key(Some("alice"), Some(IpAddr::V4(Ipv4Addr::LOCALHOST))).as_deref(), Some("subject:alice"));
        assert_eq!(client_key(None, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)))).as_deref(), Some("ip:10.0.0.7"));
        let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_key(None, Some(IpAddr::V6(a))), client_key(None, Some(IpAddr::V6(b))));
        let mapped: Ipv6Addr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(client_key(None, Some(IpAddr::V6(mapped))).as_deref(), Some("ip:10.0.0.7"));
        assert_eq!(client_key(None, None), None);
        for a in [Ipv4Addr::new(0, 9, 10, 99), Ipv4Addr::new(100, 109, 200, 255), Ipv4Addr::new(127, 0, 0, 1)] {
            assert_eq!(client_key(None, Some(IpAddr::V4(a))), Some(format!("ip:{a}")));
        }
    }

    #[test]
    fn the_sweep_runs_often_enough_for_the_shortest_expiry() {
        let s = sweep_period(Duration::from_secs(30), Duration::from_secs(3600));
        assert_eq!(s, Duration::from_secs(15));
        assert_eq!(sweep_period(Duration::from_millis(200), Duration::from_secs(3600)), Duration::from_millis(100));
        assert_eq!(sweep_period(Duration::ZERO, Duration::ZERO), Duration::from_millis(10));
    }
}
