//! Interrupting `popfetch run` (issue 9, point 6; catalog D-02 for a one-shot run): the built binary against the
//! fakes, a real SIGINT or SIGTERM sent with kill(1). Every wait is for an event the fakes observed (the final dot
//! of DATA arrived), never a bare sleep, so the tests hold on a loaded machine: the MTA's end-of-DATA reply is
//! held back far longer than a signal takes to arrive.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::run::Running;
use support::*;

const WAIT: Duration = Duration::from_secs(30);

fn mail(tag: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@remote.test>\r\nFrom: sender@remote.test\r\nTo: alice@local.test\r\n\
         Subject: {tag}\r\n\r\nbody of {tag}\r\n"
    )
    .into_bytes()
}

struct World {
    pop: FakePop3,
    smtp: FakeSmtp,
    state: tempfile::TempDir,
    cfg: TestConfig,
}

impl World {
    /// Two messages, and an MTA that answers the end of the first DATA after `eod_delay`.
    fn new(eod_delay: Duration) -> World {
        let pop = FakePop3::start(
            vec![Msg::new("m1", mail("m1")), Msg::new("m2", mail("m2"))],
            Pop3Behavior::plain(),
        );
        let smtp = FakeSmtp::start(SmtpBehavior {
            delay_eod_reply: Some(eod_delay),
            ..Default::default()
        });
        let state = tempfile::tempdir().unwrap();
        let cfg = ConfigBuilder::new(smtp.port(), state.path())
            .account(AccountCfg::new("acct", pop.port(), "none"))
            .write();
        World {
            pop,
            smtp,
            state,
            cfg,
        }
    }

    fn state_file(&self) -> PathBuf {
        self.state.path().join("acct.state")
    }

    /// `popfetch run`, stopped at the moment the first message's final dot reached the MTA.
    fn run_until_first_dot(&self) -> Running {
        let r = spawn_popfetch(&self.cfg.path, &["run"], &[]);
        assert!(
            self.smtp.wait_until(WAIT, |s| s.attempts() >= 1),
            "the first message never reached end-of-DATA"
        );
        r
    }
}

fn journal(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The process has exited and waits to be reaped (state Z in /proc/PID/stat, proc(5)).
fn exited(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(true)
}

fn subjects(smtp: &FakeSmtp) -> Vec<String> {
    smtp.delivered()
        .iter()
        .map(|d| support::world::subject(&d.data))
        .collect()
}

#[test]
fn d02_p27_run_sigint_finishes_the_message_in_flight_keeps_the_one_read_ahead_and_exits_75() {
    for signal in ["INT", "TERM"] {
        // The reply to m1's end-of-DATA is 4 s away when the signal is sent. The server removes at QUIT what was
        // retrieved (EXPIRE 0), as a download-once policy does.
        let w = World::new(Duration::from_secs(4));
        w.pop.update(|b| b.expire_retrieved = true);
        let r = w.run_until_first_dot();
        r.signal(signal);
        let out = r.wait(WAIT);
        assert!(!out.timed_out, "SIG{signal}: no exit: {}", out.stderr);
        assert_eq!(out.code, 75, "SIG{signal}: {}", out.stderr);
        assert!(out.stderr.contains("stopping"), "{}", out.stderr);

        // m1 (in flight) was delivered and recorded. m2 was read while m1 was at the MTA (src/poller/lanes.rs) and
        // was waiting for the connection when the stop came: never sent, its begin mark abandoned, no RETR after
        // it. Retrieved and not delivered, so no POP3 QUIT (catalog P-27): the server keeps m2, and m1's deletion
        // waits for the next run.
        assert_eq!(subjects(&w.smtp), ["m1"], "SIG{signal}");
        assert_eq!(w.pop.mailbox_uids(), ["m1", "m2"], "SIG{signal}");
        assert_eq!(
            w.pop.retr_log(),
            ["m1", "m2"],
            "SIG{signal}: a RETR after the stop"
        );
        let lines = journal(&w.state_file());
        assert!(
            lines.iter().any(|l| l == "D m1 0"),
            "m1 not recorded: {lines:?}"
        );
        assert!(
            !lines.iter().any(|l| l.ends_with(" m2")),
            "m2 still begun after the compaction: {lines:?}"
        );
        let pop = &w.pop.sessions()[0];
        assert_eq!(
            pop.verbs().iter().filter(|v| *v == "RETR").count(),
            2,
            "{:?}",
            pop.commands
        );
        assert!(!pop.quit, "POP3 QUIT with m2 retrieved: {:?}", pop.commands);
        let smtp = &w.smtp.sessions()[0];
        assert!(smtp.quit, "no SMTP QUIT: {:?}", smtp.commands);

        // The summary says how far the run got, with its bytes and time.
        let summary = out
            .stderr
            .lines()
            .find(|l| {
                l.contains(
                    "2 new, 1 delivered, 0 rejected, 0 skipped, 0 deleted, 1 marked for deletion on the next poll; ",
                )
            })
            .unwrap_or_else(|| panic!("no summary line: {}", out.stderr));
        let bytes = mail("m1").len();
        assert!(
            summary.contains(&format!("; {bytes}")) && summary.contains(" bytes in "),
            "{summary}"
        );
        assert!(
            summary.contains("; interrupted, the rest waits for the next run; result ok"),
            "{summary}"
        );

        // The next run fetches m2 only: nothing lost, nothing twice.
        w.smtp.update(|b| b.delay_eod_reply = None);
        let again = run_popfetch(&w.cfg.path, &["run"]);
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert_eq!(subjects(&w.smtp), ["m1", "m2"]);
        assert!(w.pop.mailbox_uids().is_empty());
        assert!(
            !again.stderr.contains("possible duplicate"),
            "{}",
            again.stderr
        );
    }
}

#[test]
fn d02_run_second_sigint_exits_at_once_and_the_message_stays_on_the_server() {
    // The MTA sits on m1's end-of-DATA reply far longer than the test waits.
    let w = World::new(Duration::from_secs(15));
    let r = w.run_until_first_dot();
    let pid = r.pid().to_string();
    let t = Instant::now();
    // tokio folds signals that arrive before the handler ran into one: repeat until the process is gone, each
    // repeat being a later signal than the one that started the stop.
    let kill = || {
        assert!(
            std::process::Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .is_ok_and(|s| s.success())
        )
    };
    kill();
    std::thread::sleep(Duration::from_millis(100));
    // Until the process has exited (a zombie: its parent, this test, reaps it in `wait`).
    while !exited(&pid) && t.elapsed() < WAIT {
        kill();
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = r.wait(WAIT);
    let took = t.elapsed();
    assert!(!out.timed_out, "no exit: {}", out.stderr);
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: {}",
        out.stderr
    );
    assert_eq!(out.code, 75, "{}", out.stderr);
    assert!(out.stderr.contains("second stop request"), "{}", out.stderr);

    // Left without QUIT: nothing deleted, m1 begun but not recorded as delivered.
    assert_eq!(w.pop.mailbox_uids(), ["m1", "m2"]);
    assert!(w.pop.dele_log().is_empty());
    let state = journal(&w.state_file());
    assert!(state.iter().any(|l| l.starts_with("B m1")), "{state:?}");
    assert!(!state.iter().any(|l| l.starts_with("D m1")), "{state:?}");
    assert!(
        w.pop.wait_until(WAIT, |p| p.sessions()[0].finished),
        "the POP3 session never ended"
    );
    assert!(!w.pop.sessions()[0].quit, "QUIT after the second signal");
}

#[test]
fn d02_run_stop_grace_bounds_the_wait_and_the_message_stays_on_the_server() {
    let w = World::new(Duration::from_secs(15));
    let r = spawn_popfetch(&w.cfg.path, &["run", "--stop-grace", "1"], &[]);
    assert!(
        w.smtp.wait_until(WAIT, |s| s.attempts() >= 1),
        "the first message never reached end-of-DATA"
    );
    let t = Instant::now();
    r.signal("TERM");
    let out = r.wait(WAIT);
    assert!(!out.timed_out, "no exit: {}", out.stderr);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}: {}",
        t.elapsed(),
        out.stderr
    );
    assert_eq!(out.code, 75, "{}", out.stderr);
    assert!(
        out.stderr.contains("stop grace of 1 s over"),
        "{}",
        out.stderr
    );
    assert_eq!(w.pop.mailbox_uids(), ["m1", "m2"]);
    assert!(w.pop.dele_log().is_empty());
}
