//! The arithmetic of `bench perf`, apart from any measuring so that it can be tested:
//! percentiles, Redis `INFO commandstats` and `MONITOR` lines, and the ratios issue 11
//! sets goals for.

use std::collections::BTreeMap;
use std::time::Duration;

/// One measured row: a load against one system at one concurrency.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// Which server build (`this`, or `against` with `--against`).
    pub build: String,
    /// `limit` (bare hyper), `embedded`, `redis` (front end + 2 workers on the server
    /// CPUs), `redis-1w`/`redis-2w`/`redis-4w` (on the scale-out CPUs).
    pub system: String,
    /// `plain` (tools/call, or the limit's fixed answer), `A` (tools/call + task, then
    /// tasks/result: 2 requests), `B` (tools/call, then tasks/get until completed).
    pub load: String,
    /// Clients, each one request at a time.
    pub concurrency: usize,
    /// Calls or tasks completed.
    pub units: u64,
    /// HTTP requests made for them.
    pub requests: u64,
    /// Length of the window in seconds.
    pub secs: f64,
    /// Median time of a unit (call, or submit to result), in ms.
    pub p50_ms: f64,
    /// 99th percentile, in ms.
    pub p99_ms: f64,
    /// Redis only: commands Redis executed during the window, by name (see [`CommandStats`]).
    pub redis_calls: Option<BTreeMap<String, u64>>,
    /// CPU seconds the server processes (Ferry, its workers, Redis; or the limit) used during the window.
    pub server_cpu_s: Option<f64>,
    /// CPU seconds the load client used during the window.
    pub client_cpu_s: Option<f64>,
    /// Redis rows: the part of `server_cpu_s` the worker processes used.
    pub worker_cpu_s: Option<f64>,
    /// Redis rows: the part of `server_cpu_s` `redis-server` used.
    pub redis_cpu_s: Option<f64>,
}

impl Row {
    /// Calls or tasks per second.
    pub fn units_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.units as f64 / self.secs
        } else {
            0.0
        }
    }

    /// HTTP requests per second.
    pub fn requests_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.requests as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Requests per unit (2 for Form A, 1 + polls for Form B).
    pub fn requests_per_unit(&self) -> f64 {
        if self.units > 0 {
            self.requests as f64 / self.units as f64
        } else {
            0.0
        }
    }

    /// Server CPU per unit in µs: what a call or task costs the server, whatever the
    /// client's speed (on a busy machine the client can be the bottleneck of every row).
    pub fn server_us_per_unit(&self) -> Option<f64> {
        self.us_per_unit(self.server_cpu_s)
    }

    /// `cpu` seconds (one of this row's CPU figures) per unit, in µs.
    pub fn us_per_unit(&self, cpu: Option<f64>) -> Option<f64> {
        let cpu = cpu?;
        (self.units > 0).then(|| cpu * 1e6 / self.units as f64)
    }

    /// Share of one CPU the load client used (near or above 1: the client was the bottleneck).
    pub fn client_busy(&self) -> Option<f64> {
        let cpu = self.client_cpu_s?;
        (self.secs > 0.0).then(|| cpu / self.secs)
    }

    /// Redis commands per unit, those run inside Lua scripts included.
    pub fn redis_per_unit(&self) -> Option<f64> {
        let calls = self.redis_calls.as_ref()?;
        (self.units > 0).then(|| calls.values().sum::<u64>() as f64 / self.units as f64)
    }
}

/// The `p` quantile (0..=1) of sorted durations, in ms; 0 for none.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1e3
}

/// The median of some values (the mean of the middle two for an even count); `None` for none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

/// User + system CPU time in clock ticks from the text of `/proc/PID/stat` (all threads).
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after ')'; utime is 14
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Calls per command from Redis's `INFO commandstats`.
///
/// Redis 7 counts every command it executes there, including each `redis.call` made
/// inside a Lua script (an `EVALSHA` that runs 12 commands shows as 1 `evalsha` and 12
/// under their own names), so the sum of a window's deltas is every command Redis ran:
/// the round trips plus the work inside scripts. The bench's own probes are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandStats(pub BTreeMap<String, u64>);

/// Commands the bench itself sends to read the figures; not counted.
const PROBES: [&str; 5] = ["info", "ping", "monitor", "config|resetstat", "client|setname"];

impl CommandStats {
    /// Parse the text of `INFO commandstats` (`cmdstat_NAME:calls=N,usec=...` lines).
    pub fn parse(info: &str) -> Result<Self, String> {
        let mut calls = BTreeMap::new();
        for line in info.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("cmdstat_") else { continue };
            let (name, fields) = rest.split_once(':').ok_or_else(|| format!("no ':' in '{line}'"))?;
            let n = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .ok_or_else(|| format!("no calls= in '{line}'"))?
                .parse::<u64>()
                .map_err(|e| format!("bad calls= in '{line}': {e}"))?;
            calls.insert(name.to_ascii_lowercase(), n);
        }
        Ok(CommandStats(calls))
    }

    /// Add `other`'s calls to these (the nodes of a cluster, one total).
    pub fn add(&mut self, other: &CommandStats) {
        for (name, n) in &other.0 {
            *self.0.entry(name.clone()).or_default() += n;
        }
    }

    /// Calls made between `before` and `self`, per command, without the bench's probes
    /// and without commands that did not run.
    pub fn since(&self, before: &CommandStats) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .filter(|(name, _)| !PROBES.contains(&name.as_str()))
            .map(|(name, &n)| (name.clone(), n.saturating_sub(before.0.get(name).copied().unwrap_or(0))))
            .filter(|&(_, n)| n > 0)
            .collect()
    }
}

/// Who sent a command seen by `MONITOR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// A client: one network round trip (or one command of a pipeline).
    Client,
    /// A `redis.call` inside a Lua script.
    Lua,
}

/// Read one `MONITOR` line: `1764600000.123456 [0 127.0.0.1:5555] "SET" "k" "v"` from a
/// client, `[0 lua] "SET" ...` from a script. The command comes back lower-case;
/// `None` for lines that are not a command (`OK`).
pub fn monitor_line(line: &str) -> Option<(Origin, String)> {
    let open = line.find('[')?;
    let close = open + line[open..].find(']')?;
    let source = &line[open + 1..close];
    let rest = line[close + 1..].trim_start().strip_prefix('"')?;
    let command = rest.split('"').next()?.to_ascii_lowercase();
    if command.is_empty() {
        return None;
    }
    let origin = if source.split_whitespace().nth(1) == Some("lua") { Origin::Lua } else { Origin::Client };
    Some((origin, command))
}

/// A ratio issue 11 sets a goal for, in one round.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    /// What is compared.
    pub name: String,
    /// The figure.
    pub value: f64,
    /// The goal: `value >= target` or `value <= target` (see `at_most`).
    pub target: f64,
    /// The goal is an upper bound.
    pub at_most: bool,
}

impl Goal {
    /// Whether the figure meets the goal.
    pub fn met(&self) -> bool {
        if self.at_most {
            self.value <= self.target
        } else {
            self.value >= self.target
        }
    }
}

/// Memory of retained finished tasks, measured in one round.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Memory {
    /// Embedded engine: growth of the server's RSS per retained task, in bytes.
    pub embedded_bytes_per_task: Option<f64>,
    /// Redis: growth of `used_memory` per retained task, in bytes.
    pub redis_bytes_per_task: Option<f64>,
}

/// The goals of issue 11 for one build in one round, from its rows and the limit's
/// (the limit is measured once per round, whatever the build). Missing rows leave
/// their goals out.
pub fn goals(rows: &[Row], build: &str, memory: &Memory) -> Vec<Goal> {
    let find = |system: &str, load: &str, c: usize| {
        rows.iter().find(|r| {
            (r.build == build || system == "limit")
                && r.system == system
                && r.load == load
                && r.concurrency == c
                && r.units > 0
        })
    };
    let mut out = Vec::new();
    let mut push = |name: String, value: Option<f64>, target: f64, at_most: bool| {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            out.push(Goal { name, value, target, at_most });
        }
    };
    let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
    for c in [16, 64] {
        let limit = find("limit", "plain", c).map(Row::requests_per_sec);
        let a = find("embedded", "A", c);
        // tasks/s × requests per task = the task load's requests/s.
        push(
            format!("embedded Form A (tasks/s x req/task) / limit req/s, c={c}"),
            a.zip(limit).and_then(|(a, l)| ratio(a.units_per_sec() * a.requests_per_unit(), l)),
            0.5,
            false,
        );
    }
    let limit16 = find("limit", "plain", 16).map(Row::requests_per_sec);
    push(
        "embedded plain tools/call / limit req/s, c=16".into(),
        find("embedded", "plain", 16).zip(limit16).and_then(|(p, l)| ratio(p.requests_per_sec(), l)),
        0.75,
        false,
    );
    for c in [16, 64] {
        let a = find("embedded", "A", c).map(Row::units_per_sec);
        let b = find("embedded", "B", c).map(Row::units_per_sec);
        push(format!("Form B / Form A tasks/s, c={c}"), b.zip(a).and_then(|(b, a)| ratio(b, a)), 1.0, false);
    }
    for c in [16, 64] {
        let e = find("embedded", "A", c).map(Row::units_per_sec);
        let r = find("redis", "A", c).map(Row::units_per_sec);
        push(
            format!("Redis (2 workers, server CPUs) / embedded tasks/s, c={c}"),
            r.zip(e).and_then(|(r, e)| ratio(r, e)),
            0.5,
            false,
        );
    }
    // The same comparisons in server CPU per unit: they hold when the client, not the
    // server, limits a row (the limit's and Ferry's rows then run at the client's pace).
    let us = |r: Option<&Row>| r.and_then(Row::server_us_per_unit);
    for c in [16, 64] {
        let limit = us(find("limit", "plain", c));
        let a = find("embedded", "A", c);
        push(
            format!("CPU: limit us/req x req/task / embedded Form A us/task, c={c}"),
            limit
                .zip(a.and_then(|a| a.server_us_per_unit().map(|u| (u, a.requests_per_unit()))))
                .and_then(|(l, (u, n))| ratio(l * n, u)),
            0.5,
            false,
        );
    }
    push(
        "CPU: limit us/req / embedded plain us/call, c=16".into(),
        us(find("limit", "plain", 16)).zip(us(find("embedded", "plain", 16))).and_then(|(l, p)| ratio(l, p)),
        0.75,
        false,
    );
    push(
        "CPU: embedded us/task / Redis (all processes) us/task, c=64".into(),
        us(find("embedded", "A", 64)).zip(us(find("redis", "A", 64))).and_then(|(e, r)| ratio(e, r)),
        0.5,
        false,
    );
    let redis64 = find("redis", "A", 64);
    push(
        "Redis commands per task (Lua calls included), c=64".into(),
        redis64.and_then(Row::redis_per_unit),
        10.0,
        true,
    );
    push("Redis p50 ms, c=64".into(), redis64.map(|r| r.p50_ms), 15.0, true);
    let w: Vec<Option<f64>> =
        ["redis-1w", "redis-2w", "redis-4w"].iter().map(|s| find(s, "A", 64).map(Row::units_per_sec)).collect();
    push(
        "Redis scale-out: 2 workers / 1 worker tasks/s".into(),
        w[1].zip(w[0]).and_then(|(b, a)| ratio(b, a)),
        1.0,
        false,
    );
    push(
        "Redis scale-out: 4 workers / 2 workers tasks/s".into(),
        w[2].zip(w[1]).and_then(|(b, a)| ratio(b, a)),
        1.0,
        false,
    );
    let plain1 = find("embedded", "plain", 1).map(|r| r.p50_ms);
    let a1 = find("embedded", "A", 1).map(|r| r.p50_ms);
    push(
        "c=1 Form A submit-to-result p50 / plain call p50".into(),
        a1.zip(plain1).and_then(|(a, p)| ratio(a, p)),
        2.0,
        true,
    );
    push("embedded bytes per retained finished task".into(), memory.embedded_bytes_per_task, 1024.0, true);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(system: &str, load: &str, c: usize, units: u64, requests: u64) -> Row {
        Row {
            build: "this".into(),
            system: system.into(),
            load: load.into(),
            concurrency: c,
            units,
            requests,
            secs: 10.0,
            p50_ms: 1.0,
            p99_ms: 2.0,
            redis_calls: None,
            server_cpu_s: None,
            client_cpu_s: None,
            ..Row::default()
        }
    }

    #[test]
    fn proc_stat_cpu() {
        let stat = "1234 (tokio rt) w) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0 100 0 0";
        assert_eq!(stat_cpu_ticks(stat), Some(300));
        assert_eq!(stat_cpu_ticks("1234 (x) S 1 2"), None);
        assert_eq!(stat_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn cpu_figures_per_unit() {
        let mut r = row("limit", "plain", 16, 400_000, 400_000);
        assert_eq!(r.server_us_per_unit(), None);
        r.server_cpu_s = Some(10.0);
        r.client_cpu_s = Some(9.0);
        assert_eq!(r.server_us_per_unit(), Some(25.0));
        assert_eq!(r.client_busy(), Some(0.9));
        let mut a = row("embedded", "A", 16, 100_000, 200_000);
        a.server_cpu_s = Some(10.0); // 100 us per task = 50 per request; the limit's 25 x 2 / 100
        let g = goals(&[r, a], "this", &Memory::default());
        let cpu = g.iter().find(|g| g.name.starts_with("CPU: limit us/req x req/task")).unwrap();
        assert_eq!(cpu.value, 0.5);
        assert!(cpu.met());
    }

    #[test]
    fn percentiles_and_median() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&d, 0.5), 51.0);
        assert_eq!(percentile_ms(&d, 0.99), 100.0);
        assert_eq!(percentile_ms(&d, 1.0), 100.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN]), None);
    }

    #[test]
    fn commandstats_deltas_count_script_calls_and_skip_probes() {
        let before = CommandStats::parse(
            "# Commandstats\r\ncmdstat_evalsha:calls=10,usec=100,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n\
             cmdstat_info:calls=3,usec=1\r\ncmdstat_get:calls=5,usec=9\r\n",
        )
        .unwrap();
        let after = CommandStats::parse(
            "cmdstat_evalsha:calls=12,usec=1\ncmdstat_info:calls=5,usec=1\ncmdstat_get:calls=5,usec=9\n\
             cmdstat_set:calls=2,usec=3\ncmdstat_client|setname:calls=1,usec=1\ncmdstat_XADD:calls=2,usec=1\n",
        )
        .unwrap();
        let delta = after.since(&before);
        // 2 evalsha whose scripts ran 2 SETs and 2 XADDs: 6 commands, the probes not counted.
        assert_eq!(delta, BTreeMap::from([("evalsha".into(), 2), ("set".into(), 2), ("xadd".into(), 2)]));
        let mut r = row("redis", "A", 64, 2, 4);
        r.redis_calls = Some(delta);
        assert_eq!(r.redis_per_unit(), Some(3.0));
    }

    #[test]
    fn commandstats_of_several_nodes_add_up() {
        let mut all = CommandStats::parse("cmdstat_get:calls=2,usec=1\ncmdstat_set:calls=1,usec=1\n").unwrap();
        all.add(&CommandStats::parse("cmdstat_get:calls=3,usec=1\ncmdstat_xadd:calls=4,usec=1\n").unwrap());
        assert_eq!(all.0, BTreeMap::from([("get".into(), 5), ("set".into(), 1), ("xadd".into(), 4)]));
    }

    #[test]
    fn commandstats_refuses_garbage() {
        assert!(CommandStats::parse("cmdstat_get\n").is_err());
        assert!(CommandStats::parse("cmdstat_get:usec=1\n").is_err());
        assert!(CommandStats::parse("cmdstat_get:calls=x\n").is_err());
        assert_eq!(CommandStats::parse("# Commandstats\n\n").unwrap(), CommandStats::default());
    }

    #[test]
    fn monitor_lines() {
        assert_eq!(
            monitor_line(r#"1764600000.123456 [0 127.0.0.1:5555] "EVALSHA" "abc" "2""#),
            Some((Origin::Client, "evalsha".into()))
        );
        assert_eq!(monitor_line(r#"1764600000.123456 [0 lua] "set" "k" "v""#), Some((Origin::Lua, "set".into())));
        assert_eq!(
            monitor_line(r#"1764600000.1 [3 unix:/tmp/redis.sock] "xreadgroup" "GROUP""#),
            Some((Origin::Client, "xreadgroup".into()))
        );
        assert_eq!(monitor_line("OK"), None);
        assert_eq!(monitor_line(""), None);
    }

    #[test]
    fn goals_from_rows() {
        let mut rows = vec![
            row("limit", "plain", 16, 500_000, 500_000), // 50 000 req/s
            row("limit", "plain", 64, 600_000, 600_000),
            row("embedded", "A", 16, 125_000, 250_000), // 12 500 tasks/s x 2 = 25 000 req/s
            row("embedded", "A", 64, 100_000, 200_000),
            row("embedded", "B", 16, 150_000, 300_000),
            row("embedded", "plain", 16, 300_000, 300_000),
            row("redis", "A", 64, 25_000, 50_000),
            row("redis-1w", "A", 64, 10_000, 20_000),
            row("redis-2w", "A", 64, 15_000, 30_000),
        ];
        let mut plain1 = row("embedded", "plain", 1, 10, 10);
        plain1.p50_ms = 0.2;
        let mut a1 = row("embedded", "A", 1, 10, 20);
        a1.p50_ms = 0.5;
        rows.extend([plain1, a1]);
        rows[6].redis_calls = Some(BTreeMap::from([("evalsha".into(), 50_000), ("set".into(), 200_000)]));
        rows[6].p50_ms = 12.0;
        let g = goals(&rows, "this", &Memory { embedded_bytes_per_task: Some(1800.0), redis_bytes_per_task: None });
        let get = |prefix: &str| g.iter().find(|g| g.name.starts_with(prefix)).map(|g| (g.value, g.met()));
        assert_eq!(get("embedded Form A (tasks/s x req/task) / limit req/s, c=16"), Some((0.5, true)));
        assert_eq!(get("embedded Form A (tasks/s x req/task) / limit req/s, c=64"), Some((1.0 / 3.0, false)));
        assert_eq!(get("embedded plain"), Some((0.6, false)));
        assert_eq!(get("Form B / Form A tasks/s, c=16"), Some((1.2, true)));
        assert_eq!(get("Form B / Form A tasks/s, c=64"), None, "no B row at c=64");
        assert_eq!(get("Redis (2 workers, server CPUs) / embedded tasks/s, c=64"), Some((0.25, false)));
        assert_eq!(get("Redis commands per task"), Some((10.0, true)));
        assert_eq!(get("Redis p50"), Some((12.0, true)));
        assert_eq!(get("Redis scale-out: 2 workers / 1"), Some((1.5, true)));
        assert_eq!(get("Redis scale-out: 4"), None);
        assert_eq!(get("c=1 Form A"), Some((2.5, false)));
        assert_eq!(get("embedded bytes"), Some((1800.0, false)));
    }

    #[test]
    fn goals_of_another_build_use_its_rows_and_the_shared_limit() {
        let mut other = row("embedded", "A", 16, 250_000, 500_000);
        other.build = "against".into();
        let rows = vec![row("limit", "plain", 16, 500_000, 500_000), row("embedded", "A", 16, 125_000, 250_000), other];
        let g = goals(&rows, "against", &Memory::default());
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].value, 1.0);
    }
}
