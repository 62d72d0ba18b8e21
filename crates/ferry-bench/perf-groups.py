#!/usr/bin/env python3
"""Group a `perf record --call-graph dwarf` profile of Ferry by concern (issue 11).

    perf script -i perf.data -F comm,pid,tid,period,ip,sym,dso > perf.txt
    python3 crates/ferry-bench/perf-groups.py perf.txt [--by-comm]

Prints two tables, in % of samples:
- "where the time goes": every sample in exactly one bucket, found by walking its stack
  from the leaf up to the first frame of a known concern (memmove under serde_json::ser
  counts as JSON serialize; a syscall counts by the user-space call that made it);
- "inclusive": the share of samples with a frame of each named function anywhere on the
  stack (these overlap).
"""
import re
import sys
from collections import Counter

# Buckets, first match walking up from the leaf (user-space frames only).
BUCKETS = [
    ("allocator (jemalloc malloc/free/realloc)", r"^_rjem_|^je_|^_?_?libc_malloc|^_?_?libc_free|^sdallocx|^do_rallocx|^imalloc|^ifree|tcache_"),
    ("JSON serialize (serde_json::ser, to_vec/to_value)", r"serde_json::ser|serde_json::value::ser|serde_json::to_"),
    ("JSON parse (serde_json::de, from_slice/from_value)", r"serde_json::de|serde_json::value::de|serde_json::from_|serde_core::de|serde::de"),
    ("serde_json::Value clone/drop (trees, maps)", r"drop_in_place<serde_json::value::Value>|serde_json::value::Value as core::clone::Clone|serde_json::map::|indexmap|btree::map|drop_in_place<alloc::collections::btree"),
    ("TaskRecord clone/drop", r"TaskRecord as core::clone::Clone|drop_in_place<ferry_tasks::record::TaskRecord>|drop_in_place<ferry_tasks::backend::TaskEvent>|drop_in_place<ferry_tasks::record::Outcome>"),
    ("string formatting (format!, to_string)", r"^core::fmt|^alloc::fmt|<alloc::string::String as core::fmt::Write>"),
    ("tokio broadcast channel", r"tokio::sync::broadcast"),
    ("tokio watch / Notify / semaphores", r"tokio::sync::"),
    ("locks (std Mutex/RwLock)", r"std::sys::sync::|std::sync::poison|lock_contended"),
    ("hyper HTTP/1 (parse, encode, dispatch)", r"^hyper::|<hyper::"),
    ("axum/tower routing", r"axum|tower::"),
    ("HTTP headers/types (http crate)", r"^http::|<http::"),
    ("redis client (encode, parse, connection)", r"redis::|combine::"),
    ("Ferry HTTP transport", r"ferry_server::transport"),
    ("Ferry dispatch/tasks/session", r"ferry_server::"),
    ("Ferry embedded engine (MemoryBackend)", r"ferry_tasks::memory"),
    ("Ferry worker", r"ferry_tasks::worker|ferry_tasks::"),
    ("Ferry Redis backend", r"ferry_redis::"),
    ("demo tool", r"demo::"),
    ("time (clock_gettime)", r"clock_gettime|std::time|Instant::now"),
    ("tokio scheduler, timers, I/O driver", r"tokio::"),
]

# Inclusive: the share of samples with a frame matching anywhere on the stack.
INCLUSIVE = [
    ("hyper connection task (all HTTP work)", r"ferry_server::transport::listener::serve|limit::serve"),
    ("  socket writes (writev syscall)", r"__GI___writev|\bwritev\b"),
    ("  socket reads (recv/read syscall)", r"__libc_recv|__GI___libc_read|\brecv\b|__libc_read"),
    ("  Ferry's POST handler (transport::http::post)", r"ferry_server::transport::http::post"),
    ("    dispatch::route", r"ferry_server::dispatch::route"),
    ("    dispatch::call_tool", r"ferry_server::dispatch::call_tool"),
    ("    tasks::create (submit)", r"ferry_server::tasks::create"),
    ("    tasks::result (tasks/result)", r"ferry_server::tasks::result"),
    ("    Shared::session (session lookup)", r"ferry_server::server::Shared::session|session_table"),
    ("worker: Worker::run_job", r"ferry_tasks::worker::Worker::run_job"),
    ("worker: claim (claim_batch)", r"claim_batch"),
    ("forward_events (event fan-out task)", r"ferry_server::tasks::forward_events"),
    ("  pace::RunTimes (poll interval bookkeeping)", r"ferry_server::pace"),
    ("MemoryBackend::submit", r"MemoryBackend as ferry_tasks::backend::Backend>::submit"),
    ("MemoryBackend::complete/modify", r"MemoryBackend as ferry_tasks::backend::Backend>::complete|MemoryBackend>::modify|memory::MemoryBackend::modify"),
    ("MemoryBackend::get", r"MemoryBackend as ferry_tasks::backend::Backend>::get"),
    ("RedisBackend (all)", r"ferry_redis::"),
    ("redis crate (all)", r"^redis::|<redis::"),
    ("serde_json serialize (all)", r"serde_json::ser|serde_json::value::ser|serde_json::to_"),
    ("serde_json parse (all)", r"serde_json::de|serde_json::value::de|serde_json::from_"),
    ("TaskRecord clone", r"TaskRecord as core::clone::Clone"),
    ("tokio broadcast", r"tokio::sync::broadcast"),
    ("watch (Watchers)", r"ferry_server::watch"),
    ("allocator", r"^_rjem_|^je_|tcache_"),
    ("std Mutex lock/unlock", r"std::sys::sync::mutex"),
    ("format!/to_string", r"^alloc::fmt::format|^core::fmt::write"),
    ("uuid", r"uuid::"),
    ("new_task_id / rand", r"new_task_id|rand::"),
    ("tracing", r"tracing::|tracing_core::"),
]

FRAME = re.compile(r"^\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")


def samples(path):
    header, frames = None, []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if header is not None:
                    yield header, frames
                header, frames = None, []
            elif header is None:
                header = line.strip()
            else:
                m = FRAME.match(line)
                if m:
                    frames.append((m.group(2), m.group(3)))
    if header is not None:
        yield header, frames


def kernel_bucket(frames):
    """A sample that ends in the kernel: by the user-space call that entered it."""
    for sym, dso in frames:
        if "kernel" in dso:
            continue
        if re.search(r"writev|__send|sendto|__libc_write|\bwrite\b", sym):
            return "kernel: socket writes (TCP send, loopback delivery)"
        if re.search(r"recv|__libc_read|\bread\b", sym):
            return "kernel: socket reads"
        if re.search(r"epoll_wait", sym):
            return "kernel: epoll_wait"
        if re.search(r"futex|syscall|pthread_cond|sched_yield", sym):
            return "kernel: futex (wake-ups, parking)"
        if re.search(r"accept|socket|connect|close", sym):
            return "kernel: connection setup/teardown"
        return "kernel: other (%s)" % sym[:60]
    return "kernel: interrupts, scheduling (no user frame)"


def main():
    path = sys.argv[1]
    by_comm = "--by-comm" in sys.argv
    buckets = [(name, re.compile(p)) for name, p in BUCKETS]
    inclusive = [(name, re.compile(p)) for name, p in INCLUSIVE]
    total = 0
    excl = Counter()
    incl = Counter()
    comms = Counter()
    for header, frames in samples(path):
        if not frames:
            continue
        total += 1
        comm = header.split()[0]
        comms[comm] += 1
        if "kernel" in frames[0][1]:
            bucket = kernel_bucket(frames)
        else:
            bucket = "other: %s" % frames[0][0][:70]
            for sym, dso in frames:
                hit = next((name for name, rx in buckets if rx.search(sym)), None)
                if hit:
                    bucket = hit
                    break
        excl[(comm if by_comm else "", bucket)] += 1
        syms = [s for s, _ in frames]
        for name, rx in inclusive:
            if any(rx.search(s) for s in syms):
                incl[name] += 1
    print("%d samples; processes/threads: %s" % (total, ", ".join("%s %.0f%%" % (c, 100.0 * n / total) for c, n in comms.most_common())))
    print()
    print("| where the time goes (exclusive) | % of samples |")
    print("|---|---:|")
    for (comm, bucket), n in excl.most_common():
        if 100.0 * n / total < 0.5:
            continue
        print("| %s%s | %.1f |" % (comm + ": " if comm else "", bucket, 100.0 * n / total))
    print()
    print("| inclusive (stacks containing) | % of samples |")
    print("|---|---:|")
    for name, _ in INCLUSIVE:
        if incl[name]:
            print("| %s | %.1f |" % (name, 100.0 * incl[name] / total))


if __name__ == "__main__":
    main()
