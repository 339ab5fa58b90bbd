//! Issue 17 from the daemon's side: the status file carries the daemon's schedule, `popfetch status` reads it while
//! the daemon runs (no lock), a poll cut short by SIGTERM is recorded as interrupted, and the systemd watchdog gets
//! `WATCHDOG=1` from the scheduler loop when `WATCHDOG_USEC` is set.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::accepted_subjects;
use super::process::{WAIT, World, daemon, daemon_in_a_slow_retr, stop};
use super::support::run::{popfetch_bin, spawn_command};
use super::support::*;

fn status_file(w: &World, account: &str) -> Value {
    let text = std::fs::read_to_string(w.state.path().join(format!("{account}.status"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn status_while_the_daemon_runs_shows_when_it_polls_next() {
    let w = World::new(2, SmtpBehavior::default());
    w.add(0, "m1");
    // The second account cannot log in: stopped until a human acts.
    w.pops[1].update(|b| b.err_on_pass = Some("-ERR [AUTH] invalid credentials".into()));
    let cfg = w.write(&[0, 1]);
    let started = popfetch::status::now();
    let d = daemon(&cfg, &[]);
    w.wait_accepted("m1");
    w.sessions(1, 1);
    assert!(
        wait_until(WAIT, || w.state.path().join("acct0.status").exists()
            && w.state.path().join("acct1.status").exists()),
        "no status files"
    );

    // The daemon holds both account locks' directory and its own lock; status needs none of them.
    let out = run_popfetch(&cfg, &["status", "--json"]);
    assert_eq!(out.code, 1, "acct1 needs attention: {}", out.all());
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let ok = &doc["accounts"][0];
    assert_eq!(ok["account"], "acct0");
    assert_eq!(ok["healthy"], true);
    let next = ok["status"]["schedule"]["next_poll"].as_u64().unwrap();
    // interval 3600 s, jittered ±10 %.
    assert!(
        (started + 3240..=popfetch::status::now() + 3960).contains(&next),
        "next poll at {next}, started {started}"
    );
    assert_eq!(ok["status"]["schedule"]["stopped"], false);
    assert_eq!(ok["status"]["totals"]["delivered"], 1);
    let bad = &doc["accounts"][1];
    assert_eq!(bad["healthy"], false);
    assert_eq!(bad["status"]["schedule"]["stopped"], true);
    assert!(
        bad["problem"]
            .as_str()
            .unwrap()
            .starts_with("stopped: authentication or TLS policy failed (exit 77)"),
        "{bad}"
    );

    let table = run_popfetch(&cfg, &["status"]);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", table.stdout);
    assert!(
        lines[1].contains(" in 1h") || lines[1].contains(" in 5"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("stopped, retry in "), "{}", lines[2]);
    assert!(lines[2].contains("ATTENTION"), "{}", lines[2]);

    // A SIGUSR1 poll updates it while the status keeps being readable.
    w.add(0, "m2");
    d.signal("USR1");
    w.wait_accepted("m2");
    assert!(
        wait_until(WAIT, || status_file(&w, "acct0")["totals"]["delivered"]
            == 2),
        "status not updated: {}",
        status_file(&w, "acct0")
    );
    stop(d, Duration::from_secs(5));
    assert_eq!(status_file(&w, "acct0")["totals"]["polls"]["ok"], 2);
}

#[test]
fn a_poll_interrupted_by_sigterm_is_recorded_as_interrupted() {
    let (w, _cfg, d) = daemon_in_a_slow_retr();
    stop(d, Duration::from_secs(10));
    assert_eq!(accepted_subjects(&w.smtp), ["m1"]);
    let s = status_file(&w, "acct0");
    let last = &s["last_poll"];
    assert_eq!(last["result"], "interrupted", "{s}");
    assert_eq!(last["exit_code"], 0);
    assert_eq!(last["delivered"], 1);
    assert_eq!(
        last["message"],
        "2 new, 1 delivered, 0 rejected, 0 skipped, 1 deleted; stopped by a shutdown request, the rest waits for \
         the next poll"
    );
    assert_eq!(
        s["last_success"],
        Value::Null,
        "an interrupted poll is no success"
    );
    assert_eq!(s["consecutive_failures"], 0, "nor a failure");
    assert_eq!(s["totals"]["polls"]["interrupted"], 1);
}

#[test]
fn watchdog_gets_pings_from_the_scheduler_loop() {
    let w = World::new(1, SmtpBehavior::default());
    let cfg = w.write(&[0]);
    let sock_path = w.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let sock_env = ("NOTIFY_SOCKET", sock_path.to_str().unwrap());
    let spawn = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(popfetch_bin());
        cmd.arg("-c").arg(&cfg).arg("daemon");
        spawn_command(cmd, env)
    };
    // A 400 ms watchdog: a ping every 200 ms.
    let d = spawn(&[sock_env, ("WATCHDOG_USEC", "400000")]);
    let mut buf = [0u8; 256];
    let mut pings = Vec::new();
    let t0 = Instant::now();
    while pings.len() < 6 && t0.elapsed() < WAIT {
        let n = sock.recv(&mut buf).unwrap();
        if &buf[..n] == b"WATCHDOG=1" {
            pings.push(t0.elapsed());
        }
    }
    assert_eq!(pings.len(), 6, "pings at {pings:?}");
    // Six pings 200 ms apart take about a second (the first comes at once).
    let span = pings[5] - pings[0];
    assert!(
        (Duration::from_millis(800)..Duration::from_millis(2000)).contains(&span),
        "{pings:?}"
    );
    stop(d, Duration::from_secs(5));

    // A watchdog meant for another process (WATCHDOG_PID) is left alone.
    let d = spawn(&[sock_env, ("WATCHDOG_USEC", "400000"), ("WATCHDOG_PID", "1")]);
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut got = Vec::new();
    while let Ok(n) = sock.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(!got.iter().any(|m| m == "WATCHDOG=1"), "{got:?}");
    stop(d, Duration::from_secs(5));
}
