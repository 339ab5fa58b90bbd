//! The real `popfetch daemon` process receiving real signals, against the fakes over loopback. Intervals are an
//! hour, so every poll after the first is caused by the test (SIGUSR1, SIGHUP) and the tests take seconds.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::support::run::{Running, write_private};
use super::support::*;
use super::{accepted_subjects, mail};

pub(super) const WAIT: Duration = Duration::from_secs(20);

pub(super) struct World {
    pub(super) pops: Vec<FakePop3>,
    pub(super) smtp: FakeSmtp,
    pub(super) state: tempfile::TempDir,
    pub(super) dir: tempfile::TempDir,
}

impl World {
    pub(super) fn new(accounts: usize, smtp: SmtpBehavior) -> World {
        World {
            pops: (0..accounts)
                .map(|_| FakePop3::start(Vec::new(), Pop3Behavior::plain()))
                .collect(),
            smtp: FakeSmtp::start(smtp),
            state: tempfile::tempdir().unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(super) fn account(&self, k: usize) -> AccountCfg {
        AccountCfg::new(&format!("acct{k}"), self.pops[k].port(), "none").extra("interval", "3600")
    }

    /// Write the config with accounts `which` into the world's directory; returns its path.
    pub(super) fn write(&self, which: &[usize]) -> PathBuf {
        let mut b = ConfigBuilder::new(self.smtp.port(), self.state.path());
        for k in which {
            b = b.account(self.account(*k));
        }
        b.write_to(self.dir.path())
    }

    pub(super) fn add(&self, k: usize, tag: &str) {
        self.pops[k].add_messages(vec![Msg::new(tag, mail(tag))]);
    }

    /// Wait until account `k`'s server has seen `n` finished sessions.
    pub(super) fn sessions(&self, k: usize, n: usize) {
        assert!(
            self.pops[k].wait_until(WAIT, |p| p.sessions().iter().filter(|s| s.finished).count()
                >= n),
            "account {k}: fewer than {n} finished sessions"
        );
    }

    pub(super) fn wait_accepted(&self, tag: &str) {
        assert!(
            wait_until(WAIT, || accepted_subjects(&self.smtp)
                .iter()
                .any(|s| s == tag)),
            "{tag} never delivered"
        );
    }
}

pub(super) fn daemon(config: &Path, args: &[&str]) -> Running {
    let mut all = vec!["daemon"];
    all.extend_from_slice(args);
    spawn_popfetch(config, &all, &[])
}

/// SIGTERM and wait: exit 0 within `bound`.
pub(super) fn stop(d: Running, bound: Duration) -> Output {
    stop_with(d, "TERM", bound)
}

/// Send `signal` and wait: exit 0 within `bound`.
pub(super) fn stop_with(d: Running, signal: &str, bound: Duration) -> Output {
    let t = Instant::now();
    d.signal(signal);
    // `Running::wait` counts from the spawn: allow for the time the test ran before the stop.
    let out = d.wait(bound + Duration::from_secs(120));
    assert!(!out.timed_out, "no exit after SIG{signal}: {}", out.stderr);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        t.elapsed() < bound,
        "took {:?} to stop: {}",
        t.elapsed(),
        out.stderr
    );
    out
}

#[test]
fn d04_sigusr1_polls_now_and_d01_sigterm_while_idle_exits_0_at_once() {
    let w = World::new(1, SmtpBehavior::default());
    w.add(0, "first");
    let cfg = w.write(&[0]);
    let d = daemon(&cfg, &[]);
    w.sessions(0, 1);
    w.wait_accepted("first");
    // An hour-long interval: only the signal can cause the next poll.
    w.add(0, "second");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.pops[0].sessions().len(), 1);
    d.signal("USR1");
    w.sessions(0, 2);
    w.wait_accepted("second");
    let out = stop(d, Duration::from_secs(1));
    assert_eq!(accepted_subjects(&w.smtp), ["first", "second"]);
    assert!(w.pops[0].mailbox_uids().is_empty());
    assert!(out.stderr.contains("wake-up"), "{}", out.stderr);
    assert_no_secret("daemon log", out.stderr.as_bytes(), "alice", "s3cret-pa55");
    // The lock is released: a cron run right after is not refused.
    cron_run(&w, &cfg);
}

#[test]
fn d03_sighup_good_config_adds_an_account_bad_config_keeps_the_old_one() {
    let w = World::new(2, SmtpBehavior::default());
    w.add(0, "a1");
    w.add(1, "b1");
    let cfg = w.write(&[0]);
    let d = daemon(&cfg, &[]);
    w.wait_accepted("a1");
    assert!(w.pops[1].sessions().is_empty());

    // Good config: the new account is polled at once.
    w.write(&[0, 1]);
    d.signal("HUP");
    w.wait_accepted("b1");

    // Bad config: an unknown key in the second account. Logged with line and column; the old config goes on.
    let good = std::fs::read_to_string(&cfg).unwrap();
    let bad = format!("{good}intervall = 5\n");
    let bad_line = bad.lines().count();
    write_private(&cfg, bad.as_bytes());
    d.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    w.add(0, "a2");
    w.add(1, "b2");
    d.signal("USR1");
    w.wait_accepted("a2");
    w.wait_accepted("b2");
    let out = stop(d, Duration::from_secs(1));
    assert!(
        out.stderr
            .contains("reload failed, keeping the previous configuration"),
        "{}",
        out.stderr
    );
    let at = format!("config.toml:{bad_line}:1:");
    assert!(out.stderr.contains(&at), "no {at} in: {}", out.stderr);
    assert!(out.stderr.contains("intervall"), "{}", out.stderr);
    let mut got = accepted_subjects(&w.smtp);
    got.sort();
    assert_eq!(got, ["a1", "a2", "b1", "b2"]);
}

/// A daemon polling one account holding `tags`, whose MTA waits `delay` before each reply to the end of data;
/// returns once the first message's final dot has arrived (its reply still to come).
fn daemon_in_a_slow_end_of_data(
    delay: Duration,
    tags: &[&str],
    args: &[&str],
) -> (World, PathBuf, Running) {
    let w = World::new(
        1,
        SmtpBehavior {
            delay_eod_reply: Some(delay),
            ..Default::default()
        },
    );
    for tag in tags {
        w.add(0, tag);
    }
    let cfg = w.write(&[0]);
    let d = daemon(&cfg, args);
    assert!(w.smtp.wait_until(WAIT, |s| s.attempts() >= 1));
    (w, cfg, d)
}

/// A daemon polling one account holding m1 and m2 whose server sends every reply after the greeting in 16-byte
/// pieces 40 ms apart (a RETR takes about a second); returns once `RETR 1` has arrived.
pub(super) fn daemon_in_a_slow_retr() -> (World, PathBuf, Running) {
    let w = World::new(1, SmtpBehavior::default());
    w.pops[0].update(|b| b.write_chunks = Some((16, Duration::from_millis(40))));
    w.add(0, "m1");
    w.add(0, "m2");
    let cfg = w.write(&[0]);
    let d = daemon(&cfg, &[]);
    assert!(w.pops[0].wait_command("RETR 1", WAIT), "no RETR");
    (w, cfg, d)
}

/// A cron run after the daemon left, with the MTA answering at once: exit 0 (the daemon's lock is released).
fn cron_run(w: &World, cfg: &Path) -> Output {
    w.smtp.update(|b| b.delay_eod_reply = None);
    let run = run_popfetch(cfg, &["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

#[test]
fn d02_sigterm_during_a_slow_end_of_data_reply_delivers_once_and_records_it() {
    // The first message's final dot has arrived; its reply is 2 s away.
    let (w, cfg, d) = daemon_in_a_slow_end_of_data(Duration::from_secs(2), &["m1", "m2"], &[]);
    let out = stop(d, Duration::from_secs(5));
    assert!(out.stderr.contains("stopping"), "{}", out.stderr);
    // m1 was delivered and recorded; m2, read ahead while m1 was at the MTA, was never sent. Retrieved and not
    // delivered, so no POP3 QUIT (catalog P-27): both stay on the server until the next poll, which deletes m1.
    assert_eq!(accepted_subjects(&w.smtp), ["m1"]);
    assert_eq!(w.pops[0].mailbox_uids(), ["m1", "m2"]);
    let sessions = w.pops[0].sessions();
    assert!(
        sessions[0].retrieved.len() == 2 && !sessions[0].quit,
        "QUIT with m2 retrieved: {:?}",
        sessions[0].commands
    );
    // A cron run afterwards fetches m2 only: nothing lost, nothing twice.
    cron_run(&w, &cfg);
    assert_eq!(accepted_subjects(&w.smtp), ["m1", "m2"]);
    assert!(w.pops[0].mailbox_uids().is_empty());
}

#[test]
fn d02_second_sigterm_exits_at_once_with_kill_9_guarantees() {
    let (w, cfg, d) = daemon_in_a_slow_end_of_data(Duration::from_secs(4), &["m1", "m2"], &[]);
    d.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    let out = stop(d, Duration::from_secs(2));
    assert!(out.stderr.contains("second stop request"), "{}", out.stderr);
    // Nothing deleted without a record: both still on the server.
    assert_eq!(w.pops[0].mailbox_uids(), ["m1", "m2"]);
    let run = cron_run(&w, &cfg);
    // The fake MTA had taken m1 before the daemon left: the one documented duplicate window, logged.
    assert_eq!(accepted_subjects(&w.smtp), ["m1", "m1", "m2"]);
    assert!(run.stderr.contains("possible duplicate"), "{}", run.stderr);
    assert!(w.pops[0].mailbox_uids().is_empty());
}

#[test]
fn d02_stop_grace_bounds_the_wait() {
    let (w, _cfg, d) =
        daemon_in_a_slow_end_of_data(Duration::from_secs(6), &["m1"], &["--stop-grace", "1"]);
    let out = stop(d, Duration::from_secs(3));
    assert!(
        out.stderr.contains("stop grace of 1 s over"),
        "{}",
        out.stderr
    );
    assert_eq!(w.pops[0].mailbox_uids(), ["m1"]);
}

#[test]
fn d10_second_daemon_exits_75_naming_the_pid_and_a_killed_daemons_lock_does_not_block() {
    let w = World::new(1, SmtpBehavior::default());
    let cfg = w.write(&[0]);
    let first = daemon(&cfg, &[]);
    w.sessions(0, 1);
    let second = daemon(&cfg, &[]).wait(WAIT);
    assert_eq!(second.code, 75, "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!("pid {}", first.pid())),
        "{}",
        second.stderr
    );
    assert_eq!(w.pops[0].sessions().len(), 1, "the refused daemon polled");

    first.signal("KILL");
    let killed = first.wait(WAIT);
    assert_eq!(killed.code, -1);
    let lock = w.state.path().join("daemon.lock");
    assert!(
        lock.exists(),
        "the killed daemon's lock file is left behind"
    );
    let third = daemon(&cfg, &[]);
    w.sessions(0, 2);
    stop(third, Duration::from_secs(1));
}

#[test]
fn d07_auth_failure_stops_one_account_logged_once_while_the_other_goes_on() {
    let w = World::new(2, SmtpBehavior::default());
    w.pops[0].update(|b| b.pass = "another-password".to_owned());
    w.add(0, "a1");
    w.add(1, "b1");
    let cfg = w.write(&[0, 1]);
    let d = daemon(&cfg, &[]);
    w.wait_accepted("b1");
    w.sessions(0, 1);
    w.add(1, "b2");
    d.signal("USR1");
    w.wait_accepted("b2");
    w.sessions(0, 2);
    let out = stop(d, Duration::from_secs(1));
    assert_eq!(
        out.stderr.matches("stopped: this failure").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("still failing"), "{}", out.stderr);
    assert_eq!(w.pops[0].mailbox_uids(), ["a1"]);
    assert_no_secret("daemon log", out.stderr.as_bytes(), "alice", "s3cret-pa55");
}

#[test]
fn notify_socket_gets_ready_and_stopping() {
    let w = World::new(1, SmtpBehavior::default());
    let cfg = w.write(&[0]);
    let sock_path = w.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let mut cmd = std::process::Command::new(popfetch_bin());
    cmd.arg("-c")
        .arg(&cfg)
        .args(["daemon", "--log", "journald"]);
    let d =
        super::support::run::spawn_command(cmd, &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())]);
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"READY=1"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    w.sessions(0, 1);
    d.signal("HUP");
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"RELOADING=1");
    let n = sock.recv(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"READY=1"));
    let pid = d.pid();
    let out = stop(d, Duration::from_secs(1));
    let n = sock.recv(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"STOPPING=1"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // journald: on a machine without a journal the daemon says so and logs to stderr.
    if !Path::new("/run/systemd/journal/socket").exists() {
        assert!(out.stderr.contains("no journal socket"), "{}", out.stderr);
        assert!(out.stderr.contains(&format!("pid {pid}")), "{}", out.stderr);
    }
}
