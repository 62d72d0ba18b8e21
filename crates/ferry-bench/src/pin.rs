//! CPU sets for `bench perf`: parsing `0`, `0,1`, `0-3`, `all`, and pinning this
//! process (the load client) or a child process (a server, a worker, Redis) to one.

use crate::client::Error;
use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// A set of CPU numbers, sorted, without duplicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

impl CpuList {
    /// Parse a list as `taskset -c` takes it: numbers and ranges separated by commas
    /// (`0`, `0,1`, `0-3,6`), or `all` for every CPU this process may run on.
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.trim() == "all" {
            return Self::allowed();
        }
        let mut cpus = Vec::new();
        for part in s.split(',').map(str::trim) {
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (lo.trim(), hi.trim()),
                None => (part, part),
            };
            let parse = |x: &str| -> Result<usize, Error> {
                let n: usize = x.parse().map_err(|_| format!("'{x}' in CPU list '{s}' is not a CPU number"))?;
                if n >= CpuSet::MAX_CPU {
                    return Err(
                        format!("CPU {n} in '{s}' is beyond the largest CPU number {}", CpuSet::MAX_CPU - 1).into()
                    );
                }
                Ok(n)
            };
            let (lo, hi) = (parse(lo)?, parse(hi)?);
            if lo > hi {
                return Err(format!("range '{part}' in CPU list '{s}' runs backwards").into());
            }
            cpus.extend(lo..=hi);
        }
        cpus.sort_unstable();
        cpus.dedup();
        if cpus.is_empty() {
            return Err(format!("CPU list '{s}' is empty").into());
        }
        Ok(CpuList(cpus))
    }

    /// The CPUs this process may run on now.
    pub fn allowed() -> Result<Self, Error> {
        let set = sched_getaffinity(None)?;
        Ok(CpuList((0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect()))
    }

    /// The list as `taskset -c` writes it (`0,1`).
    pub fn label(&self) -> String {
        self.0.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
    }

    fn set(&self) -> CpuSet {
        let mut set = CpuSet::new();
        for &c in &self.0 {
            set.set(c);
        }
        set
    }

    /// Pin this process's calling thread, and so every thread it starts afterwards
    /// (call before building the Tokio runtime). Fails for CPUs not on this machine.
    pub fn pin_self(&self) -> Result<(), Error> {
        sched_setaffinity(None, &self.set()).map_err(|e| format!("cannot pin to CPUs {}: {e}", self.label()).into())
    }

    /// Make `cmd` run pinned to these CPUs, from its first instruction on (its runtime
    /// then sizes its thread pool to them, as under `taskset`).
    pub fn pin_command(&self, cmd: &mut Command) {
        let set = self.set();
        // SAFETY: the closure runs in the forked child before exec and only makes one
        // system call (no allocation, no locks), which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || sched_setaffinity(None, &set).map_err(std::io::Error::from));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_ranges_and_lists() {
        assert_eq!(CpuList::parse("0").unwrap(), CpuList(vec![0]));
        assert_eq!(CpuList::parse("1,0").unwrap(), CpuList(vec![0, 1]));
        assert_eq!(CpuList::parse("0-2, 6,1").unwrap(), CpuList(vec![0, 1, 2, 6]));
        assert_eq!(CpuList::parse("0-2").unwrap().label(), "0,1,2");
    }

    #[test]
    fn refuses_bad_lists() {
        for bad in ["", "x", "3-1", "1,,2", "-1", "99999"] {
            assert!(CpuList::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn all_is_what_this_process_may_use() {
        let all = CpuList::parse("all").unwrap();
        assert!(!all.0.is_empty());
        assert_eq!(all, CpuList::allowed().unwrap());
    }
}
