//! Where Redis is and how to talk to it: one server, or a Redis Cluster.
//!
//! A URL is parsed here and nowhere else ([`Endpoint::parse`]):
//! * `redis://`, `rediss://`, `unix://`: one server (as the `redis` crate reads them);
//! * `redis+cluster://[user:password@]host:port,host:port,...` (or `rediss+cluster://`): a
//!   Redis Cluster, reached through any of the listed nodes (the rest are discovered); the
//!   credentials apply to every node.
//!
//! [`Conn`] hides which one it is: the rest of the crate sends commands, pipelines and
//! scripts through it alike. On a cluster each goes to the node owning its keys' slot
//! (the `redis` crate routes by key and follows `MOVED`/`ASK`, retrying connection errors
//! while a replica is promoted); every multi-key command of this crate names keys of one
//! hash tag (see [`crate::partitions`]).

use crate::unavailable;
use ferry_tasks::BackendError;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The schemes of a Redis Cluster URL, with the scheme of its nodes.
const CLUSTER_SCHEMES: [(&str, &str); 2] = [("redis+cluster://", "redis://"), ("rediss+cluster://", "rediss://")];

/// How long connecting to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a command may wait for its answer (blocking reads block for less).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The shortest time between two rebuilds of a cluster connection after errors.
const HEAL_EVERY: Duration = Duration::from_millis(250);

/// A Redis server or cluster, parsed from a URL.
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// One server.
    Single(Client),
    /// A cluster: the client routing commands, and a client of each listed node (for
    /// subscriptions, which any node serves, and for walking every node's keys).
    Cluster {
        /// Routes each command to the node owning its slot.
        client: Box<ClusterClient>,
        /// The nodes named in the URL, in order.
        nodes: Vec<Client>,
    },
}

/// Check that `url` names a Redis server or cluster ([`RedisConfig::new`](crate::RedisConfig::new)
/// takes the same forms); the error says what is wrong, for a usage message.
pub fn check_url(url: &str) -> Result<(), String> {
    Endpoint::parse(url).map(|_| ()).map_err(|e| match e {
        BackendError::Unavailable(why) => why,
        other => other.to_string(),
    })
}

/// The node URLs of a cluster URL, or `None` when `url` is not one.
fn cluster_nodes(url: &str) -> Option<Result<Vec<String>, String>> {
    let (scheme, rest) =
        CLUSTER_SCHEMES.iter().find_map(|(cluster, node)| url.strip_prefix(cluster).map(|rest| (*node, rest)))?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (credentials, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let nodes: Vec<String> =
        hosts.split(',').filter(|h| !h.is_empty()).map(|h| format!("{scheme}{credentials}{h}{tail}")).collect();
    Some(if nodes.is_empty() {
        Err(format!("'{url}' names no cluster node; write redis+cluster://HOST:PORT,HOST:PORT,..."))
    } else {
        Ok(nodes)
    })
}

impl Endpoint {
    /// Read a URL (see the module docs). `Unavailable` with the reason when it is not one.
    pub(crate) fn parse(url: &str) -> Result<Self, BackendError> {
        let bad = |e: String| BackendError::Unavailable(format!("'{url}' is not a Redis URL: {e}"));
        let Some(nodes) = cluster_nodes(url) else {
            return Client::open(url).map(Endpoint::Single).map_err(|e| bad(e.to_string()));
        };
        let nodes = nodes.map_err(bad)?;
        let infos = nodes
            .iter()
            .map(|n| n.as_str().into_connection_info())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        let client = ClusterClient::builder(infos.clone())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let nodes =
            infos.into_iter().map(Client::open).collect::<Result<Vec<_>, _>>().map_err(|e| bad(e.to_string()))?;
        Ok(Endpoint::Cluster { client: Box::new(client), nodes })
    }

    /// Whether this is a cluster (keys then need hash tags).
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Endpoint::Cluster { .. })
    }

    /// The shared connection for commands, reconnecting by itself after a loss.
    pub(crate) async fn connect(&self) -> Result<Conn, BackendError> {
        match self {
            Endpoint::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(3);
                let conn = client.get_connection_manager_with_config(config).await.map_err(unavailable)?;
                Ok(Conn::Managed(conn))
            }
            Endpoint::Cluster { client, .. } => Ok(Conn::Cluster(Healing::connect(client).await?)),
        }
    }

    /// A connection of its own for blocking reads (`XREADGROUP BLOCK`), which would hold up
    /// every other command sent on a shared one.
    pub(crate) async fn connect_blocking(&self) -> Result<Conn, BackendError> {
        match self {
            Endpoint::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(None);
                let conn = client.get_multiplexed_async_connection_with_config(&config).await.map_err(unavailable)?;
                Ok(Conn::Plain(conn))
            }
            // A second cluster connection: its own connection to each node.
            Endpoint::Cluster { client, .. } => Ok(Conn::Cluster(Healing::connect(client).await?)),
        }
    }

    /// The nodes to subscribe through, in the order to try them: a message published on any
    /// node of a cluster reaches subscribers on every node, so one node at a time is enough.
    pub(crate) fn subscription_nodes(&self) -> Vec<Client> {
        match self {
            Endpoint::Single(client) => vec![client.clone()],
            Endpoint::Cluster { nodes, .. } => nodes.clone(),
        }
    }
}

/// A connection to a server or a cluster, cheap to clone (clones share it).
#[derive(Clone)]
pub(crate) enum Conn {
    /// One server, reconnecting after a loss.
    Managed(ConnectionManager),
    /// One server, for blocking reads.
    Plain(MultiplexedConnection),
    /// A cluster: each command goes to the node of its keys' slot.
    Cluster(Arc<Healing>),
}

/// A cluster connection made afresh (the slot map read again from the listed nodes) after a
/// connection error or a timeout: the `redis` crate reads the slot map again on `MOVED`,
/// which a dead master never sends, and would keep sending its slots' commands there after
/// a replica took over.
pub(crate) struct Healing {
    client: ClusterClient,
    /// The connection, and when it was last made afresh.
    conn: Mutex<(ClusterConnection, Option<Instant>)>,
}

impl Healing {
    async fn connect(client: &ClusterClient) -> Result<Arc<Self>, BackendError> {
        let conn = client.get_async_connection().await.map_err(unavailable)?;
        Ok(Arc::new(Healing { client: client.clone(), conn: Mutex::new((conn, None)) }))
    }

    fn current(&self) -> ClusterConnection {
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// After `e`, make the connection afresh if `e` says a node is unreachable (at most
    /// every [`HEAL_EVERY`]). The caller's command still fails; operations are retried.
    async fn heal(&self, e: &RedisError) {
        if !(e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()) {
            return;
        }
        {
            let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            if conn.1.is_some_and(|at| at.elapsed() < HEAL_EVERY) {
                return;
            }
            conn.1 = Some(Instant::now());
        }
        tracing::warn!(error = %e, "a Redis Cluster node is unreachable; reading the cluster's slots again");
        match self.client.get_async_connection().await {
            Ok(fresh) => self.conn.lock().unwrap_or_else(|e| e.into_inner()).0 = fresh,
            Err(e) => tracing::warn!(error = %e, "cannot reconnect to the Redis Cluster yet"),
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Managed(c) => c.req_packed_command(cmd),
            Conn::Plain(c) => c.req_packed_command(cmd),
            Conn::Cluster(h) => Box::pin(async move {
                let answer = h.current().req_packed_command(cmd).await;
                if let Err(e) = &answer {
                    h.heal(e).await;
                }
                answer
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Managed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Plain(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(h) => Box::pin(async move {
                let answers = h.current().req_packed_commands(pipeline, offset, count).await;
                if let Err(e) = &answers {
                    h.heal(e).await;
                }
                answers
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Managed(c) => c.get_db(),
            Conn::Plain(c) => c.get_db(),
            Conn::Cluster(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_names_each_node_with_the_credentials() {
        let nodes = cluster_nodes("redis+cluster://u:p@a:1,b:2/0").and_then(Result::ok);
        assert_eq!(nodes, Some(vec!["redis://u:p@a:1/0".to_string(), "redis://u:p@b:2/0".to_string()]));
        let tls = cluster_nodes("rediss+cluster://a:1").and_then(Result::ok);
        assert_eq!(tls, Some(vec!["rediss://a:1".to_string()]));
        assert!(cluster_nodes("redis://a:1").is_none());
        assert!(matches!(cluster_nodes("redis+cluster://"), Some(Err(_))));
        assert!(check_url("redis+cluster://127.0.0.1:7000,127.0.0.1:7001").is_ok());
        assert!(check_url("redis://127.0.0.1:6379").is_ok());
        assert!(check_url("http://x").is_err());
    }
}
