//! Running a child process with a hard time limit and collecting its output (the ISA and
//! bare-metal tests, which compare petrel's output with expected or QEMU's output).
#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Outcome {
    /// `None` when killed by a signal (e.g. by the harness after a timeout).
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn describe(&self, who: &str, limit: Duration) -> String {
        let status = match (self.timed_out, self.status) {
            (true, _) => format!("killed after {limit:?} (still running)"),
            (false, Some(s)) => format!("exit status {s}"),
            (false, None) => "killed by a signal".to_string(),
        };
        let stderr = String::from_utf8_lossy(&self.stderr);
        format!(
            "{who}: {status} after {:.2?}{}",
            self.elapsed,
            if stderr.trim().is_empty() {
                String::new()
            } else {
                format!("\n{who} stderr:\n{}", stderr.trim_end())
            }
        )
    }
}

/// Runs `cmd` with stdin closed, collecting stdout and stderr; kills it after `limit`.
pub fn run(mut cmd: Command, limit: Duration) -> Outcome {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("waiting for a child process") {
            Some(status) => break status,
            None if start.elapsed() > limit => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("waiting for a killed child process");
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    Outcome {
        status: status.code(),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
        timed_out,
        elapsed: start.elapsed(),
    }
}
