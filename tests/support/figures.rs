//! Figures a command measured, kept where tools/check_figures.py compares
//! them with the documentation: target/figures/<name>.md, a first line
//! naming the run (when, the command, the machine, the commit), then the
//! tables as the command printed them. Shared by the bench and the
//! simulation (tests/sim includes this file by its path).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the figures go.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/figures")
}

/// The run's line: `<!-- run 2026-12-07T06:10Z: make bench, <cpu> (2 cores),
/// commit 1a2b3c4 -->`. The documentation cites a run by its time, the part
/// before the colon.
pub fn run_line(command: &str) -> String {
    format!(
        "<!-- run {}: {command}, {} ({} cores), commit {} -->",
        output("date", &["-u", "+%Y-%m-%dT%H:%MZ"]),
        cpu(),
        cores(),
        output(
            "git",
            &[
                "-C",
                env!("CARGO_MANIFEST_DIR"),
                "describe",
                "--always",
                "--dirty",
                "--abbrev=7"
            ]
        )
    )
}

/// Writes target/figures/`name` with the run's line first; returns its path.
pub fn write(name: &str, command: &str, tables: &str) -> PathBuf {
    let dir = dir();
    std::fs::create_dir_all(&dir).expect("create target/figures");
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n\n{}\n", run_line(command), tables.trim_end()))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

pub fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
