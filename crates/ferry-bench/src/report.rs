//! `bench perf`'s output: Markdown tables (ready for BENCHMARKS.md) or JSON.

use crate::capacity::per_refresh;
use crate::figures::{goals, median, Goal, Origin, Row};
use crate::perf::{load_average, Plan, Results, Round};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One line of progress for a row just measured.
pub fn progress(r: &Row) -> String {
    let redis = r.redis_per_unit().map(|n| format!(", {n:.1} Redis commands per task")).unwrap_or_default();
    let cpu = r.server_us_per_unit().map(|n| format!(", server {n:.0} us CPU each")).unwrap_or_default();
    let busy = r.client_busy().map(|n| format!(", client {:.0}% busy", n * 100.0)).unwrap_or_default();
    let parts = match (r.us_per_unit(r.worker_cpu_s), r.us_per_unit(r.redis_cpu_s)) {
        (Some(w), Some(redis)) => format!(" (workers {w:.0}, Redis {redis:.0})"),
        _ => String::new(),
    };
    format!(
        "{} {}/{}/{}: {:.0} per s, {:.0} req/s, {:.2} req each, p50 {:.2} ms, p99 {:.2} ms{cpu}{parts}{busy}{redis}",
        r.build,
        r.system,
        r.load,
        r.concurrency,
        r.units_per_sec(),
        r.requests_per_sec(),
        r.requests_per_unit(),
        r.p50_ms,
        r.p99_ms
    )
}

type Key = (String, String, String, usize);

/// The rows of every round, grouped by (build, system, load, c), in the order first measured.
fn grouped(results: &Results) -> Vec<(Key, Vec<&Row>)> {
    let mut out: Vec<(Key, Vec<&Row>)> = Vec::new();
    for r in results.rounds.iter().flat_map(|round| &round.rows) {
        let key = (r.build.clone(), r.system.clone(), r.load.clone(), r.concurrency);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, rows)) => rows.push(r),
            None => out.push((key, vec![r])),
        }
    }
    out
}

/// Each build's goals, per round.
fn goals_per_round(plan: &Plan, results: &Results) -> Vec<(String, Vec<Vec<Goal>>)> {
    plan.builds
        .iter()
        .map(|(build, _)| {
            let per_round = results
                .rounds
                .iter()
                .map(|round| {
                    let memory = round.memory.iter().find(|(b, _)| b == build).map(|(_, m)| *m).unwrap_or_default();
                    goals(&round.rows, build, &memory)
                })
                .collect();
            (build.clone(), per_round)
        })
        .collect()
}

fn fmt(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    // Not available_parallelism: this process is pinned to the client's CPUs.
    let cores =
        std::fs::read_to_string("/proc/cpuinfo").map(|s| s.lines().filter(|l| l.starts_with("processor")).count());
    format!("{cpu}, {} CPUs", cores.unwrap_or(0))
}

/// Print the tables.
pub fn print(plan: &Plan, results: &Results) {
    let o = &plan.options;
    println!("Ferry perf (issue 11): {}", machine());
    println!(
        "server CPUs {}, load client CPUs {}, scale-out CPUs {}; {} s per row, {} rounds; load average {} before, {} after",
        plan.server.label(),
        plan.client.label(),
        plan.scale.label(),
        o.secs,
        o.rounds,
        results.load_avg.0,
        results.load_avg.1
    );
    for (label, exe) in &plan.builds {
        println!("build {label}: {}", exe.display());
    }
    println!();
    println!(
        "| build | system | load | c | per s: median (rounds) | req/s | req each | p50 ms | p99 ms \
         | server CPU us each | client busy | Redis cmds each |"
    );
    println!("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for ((build, system, load, c), rows) in grouped(results) {
        let m = |f: &dyn Fn(&Row) -> f64| median(&rows.iter().map(|r| f(r)).collect::<Vec<_>>()).unwrap_or(0.0);
        let each: Vec<String> = rows.iter().map(|r| format!("{:.0}", r.units_per_sec())).collect();
        let opt = |f: &dyn Fn(&Row) -> Option<f64>| median(&rows.iter().filter_map(|r| f(r)).collect::<Vec<_>>());
        let redis = opt(&Row::redis_per_unit);
        let build = if system == "limit" { "-" } else { build.as_str() };
        println!(
            "| {build} | {system} | {load} | {c} | {:.0} ({}) | {:.0} | {:.2} | {} | {} | {} | {} | {} |",
            m(&Row::units_per_sec),
            each.join(", "),
            m(&Row::requests_per_sec),
            m(&Row::requests_per_unit),
            fmt(m(&|r| r.p50_ms)),
            fmt(m(&|r| r.p99_ms)),
            opt(&Row::server_us_per_unit).map(|n| format!("{n:.0}")).unwrap_or_else(|| "-".into()),
            opt(&Row::client_busy).map(|n| format!("{:.0}%", n * 100.0)).unwrap_or_else(|| "-".into()),
            redis.map(|n| format!("{n:.1}")).unwrap_or_else(|| "-".into()),
        );
    }
    print_cpu_split(results);
    print_capacity(plan, results);
    for (build, per_round) in goals_per_round(plan, results) {
        println!();
        println!("Goals of issue 11, build {build} (each ratio within one round; the median of the rounds decides):");
        println!();
        println!("| figure | goal | rounds | median | met |");
        println!("|---|---|---|---:|---|");
        let names: Vec<&String> = per_round.iter().flatten().map(|g| &g.name).fold(Vec::new(), |mut v, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        });
        for name in names {
            let gs: Vec<&Goal> = per_round.iter().filter_map(|gs| gs.iter().find(|g| &g.name == name)).collect();
            let values: Vec<f64> = gs.iter().map(|g| g.value).collect();
            let Some(med) = median(&values) else { continue };
            let first = gs[0];
            let target = format!("{} {}", if first.at_most { "<=" } else { ">=" }, fmt(first.target));
            let met = Goal { value: med, ..first.clone() }.met();
            let each: Vec<String> = values.iter().map(|v| fmt(*v)).collect();
            println!("| {name} | {target} | {} | {} | {} |", each.join(", "), fmt(med), if met { "yes" } else { "no" });
        }
        let redis_mem: Vec<f64> = results
            .rounds
            .iter()
            .filter_map(|r| r.memory.iter().find(|(b, _)| *b == build).and_then(|(_, m)| m.redis_bytes_per_task))
            .collect();
        if let Some(m) = median(&redis_mem) {
            println!(
                "| Redis used_memory bytes per retained finished task | (reported) | {} | {} | - |",
                redis_mem.iter().map(|v| fmt(*v)).collect::<Vec<_>>().join(", "),
                fmt(m)
            );
        }
    }
    if let Some(r) = results
        .rounds
        .last()
        .and_then(|round| round.rows.iter().find(|r| r.system == "redis" && r.concurrency == 64 && r.build == "this"))
    {
        if let (Some(calls), Some(total)) = (&r.redis_calls, r.redis_per_unit()) {
            println!();
            println!(
                "Redis commands per task, last round, redis/A/64 (INFO commandstats delta / tasks; Redis 7 counts"
            );
            println!("each redis.call inside a script under its own name as well as the EVALSHA): {total:.1} in all");
            println!();
            let mut v: Vec<(&String, &u64)> = calls.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1));
            let per: Vec<String> =
                v.iter().map(|(name, n)| format!("{name} {:.2}", **n as f64 / r.units as f64)).collect();
            println!("{}", per.join(", "));
        }
    }
    if let Some(m) = &results.monitor {
        println!();
        println!("MONITOR over 1,000 Form A tasks at c=16 (2 workers), commands per task:");
        for (origin, what) in [(Origin::Client, "round trips (client commands)"), (Origin::Lua, "inside Lua scripts")] {
            let mut v: Vec<(&String, f64)> =
                m.iter().filter(|((o, _), _)| *o == origin).map(|((_, c), n)| (c, *n)).collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1));
            let total: f64 = v.iter().map(|(_, n)| n).sum();
            let per: Vec<String> = v.iter().map(|(c, n)| format!("{c} {n:.2}")).collect();
            println!("- {what}: {total:.1}: {}", per.join(", "));
        }
    }
    println!();
    println!("load average at the end: {}", load_average());
}

/// The server CPU of the Redis rows split by process: front end, workers, Redis.
fn print_cpu_split(results: &Results) {
    let rows: Vec<(Key, Vec<&Row>)> =
        grouped(results).into_iter().filter(|(_, rows)| rows.iter().any(|r| r.worker_cpu_s.is_some())).collect();
    if rows.is_empty() {
        return;
    }
    println!();
    println!("Redis rows, server CPU us per task by process (medians of the rounds):");
    println!();
    println!("| build | system | load | c | all | front end | workers | Redis | Redis busy (cores) |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for ((build, system, load, c), rows) in rows {
        let us = |f: &dyn Fn(&Row) -> Option<f64>| {
            median(&rows.iter().filter_map(|r| f(r)).collect::<Vec<_>>()).map(fmt).unwrap_or_else(|| "-".into())
        };
        let front = |r: &Row| Some(r.server_cpu_s? - r.worker_cpu_s? - r.redis_cpu_s?);
        let busy: Vec<f64> = rows.iter().filter_map(|r| Some(r.redis_cpu_s? / r.secs)).collect();
        println!(
            "| {build} | {system} | {load} | {c} | {} | {} | {} | {} | {} |",
            us(&Row::server_us_per_unit),
            us(&|r| r.us_per_unit(front(r))),
            us(&|r| r.us_per_unit(r.worker_cpu_s)),
            us(&|r| r.us_per_unit(r.redis_cpu_s)),
            median(&busy).map(fmt).unwrap_or_else(|| "-".into()),
        );
    }
}

/// Issue 13's capacity figures of one build and round: those measured, and what a
/// session refresh costs (from the two plain-call rows in sessions).
fn capacity_figures(round: &Round, build: &str) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> =
        round.figures.iter().filter(|(b, _, _)| b == build).map(|(_, name, v)| (name.clone(), *v)).collect();
    let find = |system: &str| round.rows.iter().find(|r| r.build == build && r.system == system && r.load == "plain");
    if let Some((refreshes, commands, redis)) =
        find("sessions").zip(find("sessions-refresh")).and_then(|(d, s)| per_refresh(d, s))
    {
        out.push(("session refreshes counted (sessions-refresh row)".into(), refreshes as f64));
        out.push(("Redis commands per session refresh".into(), commands));
        out.push(("Redis CPU us per session refresh".into(), redis));
    }
    out
}

/// The capacity figures, per build: each round's value and the median.
fn print_capacity(plan: &Plan, results: &Results) {
    for (build, _) in &plan.builds {
        let per_round: Vec<Vec<(String, f64)>> = results.rounds.iter().map(|r| capacity_figures(r, build)).collect();
        let mut names: Vec<&String> = Vec::new();
        for (name, _) in per_round.iter().flatten() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if names.is_empty() {
            continue;
        }
        println!();
        println!("Capacity figures of issue 13, build {build}:");
        println!();
        println!("| figure | rounds | median |");
        println!("|---|---|---:|");
        for name in names {
            let values: Vec<f64> =
                per_round.iter().filter_map(|f| f.iter().find(|(n, _)| n == name).map(|(_, v)| *v)).collect();
            let each: Vec<String> = values.iter().map(|v| fmt(*v)).collect();
            println!("| {name} | {} | {} |", each.join(", "), median(&values).map(fmt).unwrap_or_default());
        }
    }
}

fn row_json(r: &Row) -> Value {
    json!({
        "build": r.build, "system": r.system, "load": r.load, "concurrency": r.concurrency,
        "units": r.units, "requests": r.requests, "secs": r.secs,
        "per_sec": r.units_per_sec(), "requests_per_sec": r.requests_per_sec(), "requests_per_unit": r.requests_per_unit(),
        "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
        "redis_commands_per_unit": r.redis_per_unit(), "redis_calls": r.redis_calls,
        "server_cpu_s": r.server_cpu_s, "client_cpu_s": r.client_cpu_s,
        "worker_cpu_s": r.worker_cpu_s, "redis_cpu_s": r.redis_cpu_s,
        "server_us_per_unit": r.server_us_per_unit(), "client_busy": r.client_busy(),
    })
}

/// Everything as one JSON document.
pub fn json(plan: &Plan, results: &Results) -> Value {
    let goals = goals_per_round(plan, results);
    let rounds: Vec<Value> = results
        .rounds
        .iter()
        .enumerate()
        .map(|(i, round)| {
            let goals: BTreeMap<&String, Vec<Value>> = goals
                .iter()
                .map(|(b, per_round)| {
                    let gs = per_round[i]
                        .iter()
                        .map(|g| json!({"name": g.name, "value": g.value, "target": g.target, "at_most": g.at_most, "met": g.met()}))
                        .collect();
                    (b, gs)
                })
                .collect();
            let memory: BTreeMap<&String, Value> = round
                .memory
                .iter()
                .map(|(b, m)| (b, json!({"embedded_bytes_per_task": m.embedded_bytes_per_task, "redis_bytes_per_task": m.redis_bytes_per_task})))
                .collect();
            let capacity: BTreeMap<&String, BTreeMap<String, f64>> =
                plan.builds.iter().map(|(b, _)| (b, capacity_figures(round, b).into_iter().collect())).collect();
            json!({"rows": round.rows.iter().map(row_json).collect::<Vec<_>>(), "memory": memory, "goals": goals, "capacity": capacity})
        })
        .collect();
    let monitor = results.monitor.as_ref().map(|m| {
        m.iter()
            .map(|((o, c), n)| json!({"origin": if *o == Origin::Lua { "lua" } else { "client" }, "command": c, "per_task": n}))
            .collect::<Vec<_>>()
    });
    json!({
        "machine": machine(),
        "server_cpus": plan.server.0, "client_cpus": plan.client.0, "scale_cpus": plan.scale.0,
        "secs": plan.options.secs, "rounds_asked": plan.options.rounds,
        "builds": plan.builds.iter().map(|(l, p)| json!({"label": l, "exe": p.display().to_string()})).collect::<Vec<_>>(),
        "load_average": {"before": results.load_avg.0, "after": results.load_avg.1},
        "rounds": rounds,
        "monitor_per_task": monitor,
    })
}
