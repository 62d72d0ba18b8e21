//! 2025-11-25 sessions in Redis, shared by every front end of a deployment (see
//! `ferry_tasks::sessions`).
//!
//! | key | type | what |
//! |---|---|---|
//! | `P:session:{id}` | hash | `s`: the session as opened (JSON [`SessionState`]); `level`: its log level; `est`: `1` once its handshake is done; `sub:{uri}`: one field per subscribed resource. Expires after the session's idle time (its handshake timeout until then), refreshed by the front ends serving it |
//! | `P:session-client:{client}` | sorted set (score = expiry ms) | the live sessions of one client, for the per-client limit; expires with the last of them |
//!
//! Every operation is one script (one round trip); times are Redis's own clock.

use crate::conn::Conn;
use crate::keys::Keys;
use crate::{decode, encode, unavailable, RedisBackend};
use async_trait::async_trait;
use ferry_tasks::{BackendError, SessionChange, SessionState, SessionStore};
use redis::Script;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Redis's clock in ms, for the scripts.
const NOW: &str =
    "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// Keep a client's index (KEYS[2]) entry for ARGV[3] alive ARGV[1] ms from now, when ARGV[2] is 1.
const KEEP_CLIENT: &str = r"
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[1]), ARGV[3])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
end
";

/// ARGV: ttl, has client, id, limit, state JSON, level, established. Returns 1, or 0 when
/// the client holds its limit.
const OPEN: &str = r"
if ARGV[2] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local limit = tonumber(ARGV[4])
  if limit > 0 and redis.call('ZCARD', KEYS[2]) >= limit then return 0 end
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), ARGV[3])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 's', ARGV[5], 'level', ARGV[6], 'est', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
";

/// ARGV: ttl, has client, id, `set`/`del`, field, value. Returns 0 when the session is gone.
const CHANGE: &str = r"
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[4] == 'set' then redis.call('HSET', KEYS[1], ARGV[5], ARGV[6]) else redis.call('HDEL', KEYS[1], ARGV[5]) end
";

/// ARGV: ttl, has client, id. Returns the hash, or nothing when the session is gone.
const TOUCH: &str = r"
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return false end
";

/// ARGV: (unused), has client, id. Returns 1 when there was a session.
const CLOSE: &str = r"
if ARGV[2] == '1' then redis.call('ZREM', KEYS[2], ARGV[3]) end
return redis.call('DEL', KEYS[1])
";

/// The session store of a Redis deployment: [`RedisBackend::sessions`].
#[derive(Clone)]
pub struct RedisSessionStore {
    conn: Conn,
    keys: Arc<Keys>,
    open: Script,
    change: Script,
    touch: Script,
    close: Script,
}

impl RedisBackend {
    /// The deployment's shared sessions, under the same prefix and connection
    /// (give it to `ServerBuilder::session_store` on every front end).
    pub fn sessions(&self) -> RedisSessionStore {
        RedisSessionStore {
            conn: self.inner.conn.clone(),
            keys: self.inner.keys.clone(),
            open: Script::new(&format!("{NOW}{OPEN}")),
            change: Script::new(&format!("{NOW}{CHANGE}{KEEP_CLIENT}return 1")),
            touch: Script::new(&format!("{NOW}{TOUCH}{KEEP_CLIENT}return redis.call('HGETALL', KEYS[1])")),
            close: Script::new(CLOSE),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisSessionStore {
    /// A script call on the session `id` of `client`, with ARGV ttl, has client, id.
    fn call<'a>(
        &self,
        script: &'a Script,
        id: &str,
        client: Option<&str>,
        ttl: Duration,
    ) -> redis::ScriptInvocation<'a> {
        let mut call = script.key(self.keys.session(id));
        // Without a client the second key is not touched; it is named for the script's shape.
        call.key(self.keys.session_client(client.unwrap_or_default()));
        call.arg(millis(ttl)).arg(if client.is_some() { "1" } else { "0" }).arg(id);
        call
    }

    /// The state stored in a session's hash.
    fn state(fields: HashMap<String, String>) -> Result<Option<SessionState>, BackendError> {
        let Some(json) = fields.get("s") else { return Ok(None) };
        let mut state: SessionState = decode(json)?;
        if let Some(level) = fields.get("level") {
            state.log_level = decode(&format!("\"{level}\""))?;
        }
        state.established = fields.get("est").is_some_and(|e| e == "1");
        state.subscriptions = fields.keys().filter_map(|k| k.strip_prefix("sub:")).map(str::to_string).collect();
        Ok(Some(state))
    }
}

fn level_name(state_level: &ferry_protocol::types::LoggingLevel) -> Result<String, BackendError> {
    Ok(encode(state_level)?.trim_matches('"').to_string())
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn open(&self, state: &SessionState, ttl: Duration, limit: usize) -> Result<bool, BackendError> {
        let mut call = self.call(&self.open, &state.id, state.client.as_deref(), ttl);
        call.arg(limit).arg(encode(state)?).arg(level_name(&state.log_level)?);
        call.arg(if state.established { "1" } else { "0" });
        let opened: i64 = call.invoke_async(&mut self.conn.clone()).await.map_err(unavailable)?;
        Ok(opened == 1)
    }

    async fn load(&self, id: &str) -> Result<Option<SessionState>, BackendError> {
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.session(id))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Self::state(fields)
    }

    async fn change(
        &self,
        id: &str,
        client: Option<&str>,
        change: &SessionChange,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        let (op, field, value) = match change {
            SessionChange::Established => ("set", "est".to_string(), "1".to_string()),
            SessionChange::LogLevel(l) => ("set", "level".to_string(), level_name(l)?),
            SessionChange::Subscribe(uri) => ("set", format!("sub:{uri}"), "1".to_string()),
            SessionChange::Unsubscribe(uri) => ("del", format!("sub:{uri}"), String::new()),
        };
        let mut call = self.call(&self.change, id, client, ttl);
        call.arg(op).arg(field).arg(value);
        let changed: i64 = call.invoke_async(&mut self.conn.clone()).await.map_err(unavailable)?;
        Ok(changed == 1)
    }

    async fn touch(&self, id: &str, client: Option<&str>, ttl: Duration) -> Result<Option<SessionState>, BackendError> {
        let call = self.call(&self.touch, id, client, ttl);
        let fields: Option<HashMap<String, String>> =
            call.invoke_async(&mut self.conn.clone()).await.map_err(unavailable)?;
        Self::state(fields.unwrap_or_default())
    }

    async fn close(&self, id: &str, client: Option<&str>) -> Result<bool, BackendError> {
        let call = self.call(&self.close, id, client, Duration::ZERO);
        let closed: i64 = call.invoke_async(&mut self.conn.clone()).await.map_err(unavailable)?;
        Ok(closed == 1)
    }
}
