//! `wrk` against a gateway, and what its summary says: the load the engine tests run, since
//! what passes one request at a time can crash Kong's engine under load.

use std::process::Command;

/// A run's summary.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub completed: u64,
    /// connect, read, write and timeout errors: connections the gateway dropped or never answered.
    pub socket_errors: u64,
    pub non_2xx: u64,
    /// wrk's own output, for assertion messages.
    pub text: String,
}

/// `wrk -t2 -c<connections> -d<seconds>s` on `url`, with these request headers.
pub fn wrk(url: &str, connections: u32, seconds: u32, headers: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--timeout",
        "5s",
    ]);
    for (name, value) in headers {
        cmd.args(["-H", &format!("{name}: {value}")]);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk (scripts/setup.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let number_after = |label: &str| -> u64 {
        text.lines()
            .find_map(|l| {
                let at = l.find(label)?;
                l[at + label.len()..]
                    .trim()
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    let completed = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let socket_errors = ["connect ", "read ", "write ", "timeout "]
        .iter()
        .map(|label| number_after(label))
        .sum();
    Run {
        completed,
        socket_errors,
        non_2xx: number_after("Non-2xx or 3xx responses:"),
        text,
    }
}

/// Requests per second in wrk's summary.
pub fn requests_per_second(run: &Run) -> f64 {
    run.text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}
