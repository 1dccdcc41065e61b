//! A process's peak memory, as the kernel counts it: the child's own `ru_maxrss` from
//! `wait4(2)` (its VmHWM when it exited), which no sampling of `/proc` can miss. Std has no
//! `wait4`, hence the one FFI call.
//!
//! One catch: a child's `ru_maxrss` also counts the address space it was started from (the
//! kernel records the parent's high-water mark when the child execs). A test process that
//! served 50 MB answers would be counted in its child. So [`run`] starts the command from a
//! fresh, small process: this same test binary again, running only its wrapper test, which
//! calls [`wrapper`].
#![allow(unsafe_code)]

use std::io::Read;
use std::process::{Command, Stdio};

/// What a finished process left: exit code (`None` if a signal ended it), its output, and
/// its peak resident memory in KiB.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub peak_kib: u64,
}

const ARGV: &str = "NODECAP_PEAK_ARGV";
const REPORT: &str = "NODECAP_PEAK_REPORT";

/// Runs `command` to the end (stdin null, stdout and stderr captured) from a fresh process
/// (the current test binary running only `wrapper_test`, a test that calls [`wrapper`]),
/// and measures it.
pub fn run(command: &mut Command, wrapper_test: &str) -> std::io::Result<Finished> {
    let dir = std::env::temp_dir().join(format!(
        "nodecap-peak-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir)?;
    let argv: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut outer = Command::new(std::env::current_exe()?);
    outer
        .args([
            wrapper_test,
            "--exact",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(
            ARGV,
            serde_json::to_string(&argv).map_err(std::io::Error::other)?,
        )
        .env(REPORT, &dir);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => outer.env(key, value),
            None => outer.env_remove(key),
        };
    }
    if let Some(cwd) = command.get_current_dir() {
        outer.current_dir(cwd);
    }
    let status = outer
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let read = |name: &str| std::fs::read(dir.join(name));
    let report = String::from_utf8(read("report").map_err(|e| {
        std::io::Error::other(format!(
            "the wrapper {wrapper_test} left no report ({e}): {}",
            String::from_utf8_lossy(&status.stderr)
        ))
    })?)
    .map_err(std::io::Error::other)?;
    let mut fields = report.split_whitespace();
    let code = fields.next().and_then(|c| c.parse().ok());
    let peak_kib = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let finished = Finished {
        code,
        stdout: read("stdout")?,
        stderr: read("stderr")?,
        peak_kib,
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(finished)
}

/// The wrapper's side: in the process [`run`] started, runs the command it described and
/// leaves the report. Does nothing in any other process (a plain test run).
pub fn wrapper() {
    let (Ok(argv), Ok(dir)) = (std::env::var(ARGV), std::env::var(REPORT)) else {
        return;
    };
    let argv: Vec<String> = serde_json::from_str(&argv).unwrap_or_default();
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let mut command = Command::new(program);
    command.args(args).env_remove(ARGV).env_remove(REPORT);
    let report = match measure(&mut command) {
        Ok(f) => {
            let _ = std::fs::write(dir.join("stdout"), &f.stdout);
            let _ = std::fs::write(dir.join("stderr"), &f.stderr);
            format!(
                "{} {}\n",
                f.code.map_or("signal".to_owned(), |c| c.to_string()),
                f.peak_kib
            )
        }
        Err(e) => format!("error {e}\n"),
    };
    let _ = std::fs::write(dir.join("report"), report);
}

/// Runs `command` to the end here and measures it (counting this process's own high-water
/// mark too: call it from a small process).
pub fn measure(command: &mut Command) -> std::io::Result<Finished> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let pid = libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are live locals the call writes into; `pid` is our own
    // child, not yet reaped (the `Child` handle is never waited on after this).
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if reaped != pid {
        return Err(std::io::Error::last_os_error());
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok(Finished {
        code,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        // Linux reports kilobytes.
        peak_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}
