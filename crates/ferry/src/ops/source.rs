//! Where operator commands read from: the deployment's Redis, or a server's admin API.

use crate::{Error, UsageError};
use clap::Args as ClapArgs;
use ferry_redis::{RedisBackend, RedisConfig};
use ferry_server::engine::{Backend, EngineStats, TaskDetail, TaskFilter, TaskPage, TaskRecord};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::PathBuf;

/// Which deployment an operator command looks at.
#[derive(ClapArgs, Debug, Clone)]
pub struct SourceArgs {
    /// Read the deployment's Redis directly (the URL its `serve` and `worker` use).
    #[arg(long, env = "FERRY_REDIS_URL", value_name = "URL")]
    pub redis: Option<String>,
    /// Key prefix of the deployment in Redis.
    #[arg(long, env = "FERRY_PREFIX", default_value = "ferry")]
    pub prefix: String,
    /// Ask a running server's admin listener instead (`http://HOST:PORT`, its --admin-addr);
    /// wins over --redis.
    #[arg(long, env = "FERRY_ADMIN_URL", value_name = "URL")]
    pub admin_url: Option<String>,
    /// The admin token for --admin-url (needed to cancel, and to read unless the listener is on loopback).
    #[arg(long, env = "FERRY_ADMIN_TOKEN", hide_env_values = true, conflicts_with = "admin_token_file")]
    pub admin_token: Option<String>,
    /// A file holding the admin token.
    #[arg(long, env = "FERRY_ADMIN_TOKEN_FILE", value_name = "PATH")]
    pub admin_token_file: Option<PathBuf>,
}

/// A connected source.
pub enum Source {
    /// The deployment's Redis.
    Redis(RedisBackend),
    /// A server's admin API.
    Admin {
        /// HTTP client.
        http: reqwest::Client,
        /// `http://host:port` (no trailing slash).
        base: String,
        /// Admin token, if given.
        token: Option<String>,
    },
}

/// What cancelling did.
pub enum Cancelled {
    /// The task is cancelled now.
    Now(TaskRecord),
    /// It had already ended; left as it was.
    AlreadyEnded(TaskRecord),
    /// No such task (unknown, or expired after it ended).
    Unknown,
}

impl SourceArgs {
    /// Connect to what the flags name.
    pub async fn connect(&self) -> Result<Source, Error> {
        if let Some(url) = &self.admin_url {
            let base = url.trim_end_matches('/').trim_end_matches("/admin/api").to_string();
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(UsageError(format!("--admin-url wants http://HOST:PORT, got '{url}'")).into());
            }
            let token = super::listener::read_token(self.admin_token.as_deref(), self.admin_token_file.as_deref())?;
            let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
            return Ok(Source::Admin { http, base, token });
        }
        let Some(url) = &self.redis else {
            return Err(UsageError(
                "say which deployment: --redis URL [--prefix P] (or FERRY_REDIS_URL), or --admin-url http://HOST:PORT"
                    .into(),
            )
            .into());
        };
        if let Err(e) = ferry_redis::check_url(url) {
            return Err(UsageError(format!("--redis {e}")).into());
        }
        let config = RedisConfig::new(url.as_str()).prefix(self.prefix.clone()).stored_partitions();
        let backend = RedisBackend::connect(config).await.map_err(|e| format!("cannot read Redis at {url}: {e}"))?;
        Ok(Source::Redis(backend))
    }
}

impl Source {
    /// Where this reads from, for people.
    pub fn describe(&self) -> String {
        match self {
            Source::Redis(b) => format!("Redis {} (prefix '{}')", b.config().url, b.config().prefix),
            Source::Admin { base, .. } => format!("admin API {base}"),
        }
    }

    /// The engine's read-out.
    pub async fn stats(&self) -> Result<EngineStats, Error> {
        match self {
            Source::Redis(b) => Ok(b.stats().await?),
            Source::Admin { .. } => Ok(self.get("/admin/api/status", &[]).await?.ok_or("no status")?),
        }
    }

    /// One page of every owner's tasks that pass `filter`.
    pub async fn list(&self, filter: &TaskFilter, cursor: Option<&str>, limit: usize) -> Result<TaskPage, Error> {
        match self {
            Source::Redis(b) => Ok(b.list_all(filter, cursor, limit).await?),
            Source::Admin { .. } => {
                let mut query = vec![("limit", limit.to_string())];
                if !filter.status.is_empty() {
                    let list: Vec<&str> = filter.status.iter().map(|s| s.as_str()).collect();
                    query.push(("status", list.join(",")));
                }
                let texts = [("name", &filter.name), ("owner", &filter.owner), ("search", &filter.search)];
                query.extend(texts.iter().filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.clone()))));
                let ages = [("minAgeMs", filter.min_age_ms), ("maxAgeMs", filter.max_age_ms)];
                query.extend(ages.iter().filter_map(|(k, v)| v.map(|v| (*k, v.to_string()))));
                query.extend(cursor.map(|c| ("cursor", c.to_string())));
                let page: Value = self.get("/admin/api/tasks", &query).await?.ok_or("no listing")?;
                let tasks = serde_json::from_value(page["tasks"].clone())?;
                Ok(TaskPage { tasks, next_cursor: page["nextCursor"].as_str().map(String::from) })
            }
        }
    }

    /// One task whole (`None`: unknown or expired).
    pub async fn detail(&self, id: &str) -> Result<Option<TaskDetail>, Error> {
        match self {
            Source::Redis(b) => Ok(b.detail(id).await?),
            Source::Admin { .. } => self.get(&format!("/admin/api/tasks/{}", path_segment(id)), &[]).await,
        }
    }

    /// Cancel a task of any owner.
    pub async fn cancel(&self, id: &str) -> Result<Cancelled, Error> {
        match self {
            Source::Redis(b) => {
                let Some(before) = b.get(id).await? else { return Ok(Cancelled::Unknown) };
                if before.status.is_terminal() {
                    return Ok(Cancelled::AlreadyEnded(before));
                }
                Ok(match b.cancel(id).await? {
                    Some(r) if r.status == ferry_server::engine::TaskStatus::Cancelled => Cancelled::Now(r),
                    Some(r) => Cancelled::AlreadyEnded(r),
                    None => Cancelled::Unknown,
                })
            }
            Source::Admin { http, base, .. } => {
                let url = format!("{base}/admin/api/tasks/{}/cancel", path_segment(id));
                let response = self.authorized(http.post(&url)).send().await.map_err(|e| unreachable(base, e))?;
                match response.status().as_u16() {
                    200 => Ok(Cancelled::Now(response.json().await?)),
                    409 => {
                        let body: Value = response.json().await?;
                        Ok(Cancelled::AlreadyEnded(serde_json::from_value(body["task"].clone())?))
                    }
                    404 => Ok(Cancelled::Unknown),
                    _ => Err(refusal(response).await),
                }
            }
        }
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Source::Admin { token: Some(t), .. } => request.bearer_auth(t),
            _ => request,
        }
    }

    /// GET a JSON document of the admin API (`None` on 404).
    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<Option<T>, Error> {
        let Source::Admin { http, base, .. } = self else { return Err("not an admin API".into()) };
        let request = self.authorized(http.get(format!("{base}{path}")).query(query));
        let response = request.send().await.map_err(|e| unreachable(base, e))?;
        match response.status().as_u16() {
            200 => Ok(Some(response.json().await?)),
            404 if path.starts_with("/admin/api/tasks/") => Ok(None),
            _ => Err(refusal(response).await),
        }
    }
}

/// A task id as one path segment (ids are base32; anything else is escaped).
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn unreachable(base: &str, e: reqwest::Error) -> Error {
    format!("cannot reach the admin API at {base}: {e}").into()
}

/// The admin API's refusal, in its words (and what to do about a missing token).
async fn refusal(response: reqwest::Response) -> Error {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let said = body["error"].as_str().unwrap_or("no explanation");
    let hint = match status.as_u16() {
        401 => " (give --admin-token or FERRY_ADMIN_TOKEN)",
        _ => "",
    };
    format!("the admin API answered {status}: {said}{hint}").into()
}
