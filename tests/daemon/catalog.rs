//! The real daemon process against the catalog's daemon cases that `process` does not cover on its own: signals
//! while idle (D-01: SIGINT as well as SIGTERM, the state untouched), during a slow RETR (D-02), broken reloads of
//! every kind (D-03), a hundred failed polls without leaks (D-06, D-09), signals during blocking steps (D-11:
//! password_command, TLS handshake), a stalled handshake that holds up no other account (T-07), and the TLS policy
//! enforced afresh on every poll (T-25).

use std::path::Path;
use std::time::{Duration, Instant};

use super::accepted_subjects;
use super::process::{WAIT, World, daemon, daemon_in_a_slow_retr, stop, stop_with};
use super::support::run::{toml_str, write_private};
use super::support::*;

/// Entries of `/proc/PID/fd`.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// `VmRSS` of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `(pid, state)` of every process whose parent is `parent`.
fn children(parent: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses, so split after the last `)`.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if f.next().and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            out.push((pid, state));
        }
    }
    out
}

/// True once `pid` is gone or a zombie (killed, not yet reaped by whoever inherited it).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[test]
fn d01_sigint_and_sigterm_while_idle_exit_0_within_1_s_and_leave_the_state_untouched() {
    for signal in ["INT", "TERM"] {
        let w = World::new(1, SmtpBehavior::default());
        w.add(0, "first");
        let cfg = w.write(&[0]);
        let d = daemon(&cfg, &[]);
        w.wait_accepted("first");
        w.sessions(0, 1);
        // Idle now (the interval is an hour); give the poll's compaction time to finish.
        std::thread::sleep(Duration::from_millis(300));
        let state_file = w.state.path().join("acct0.state");
        let before = std::fs::read(&state_file).unwrap();
        let mtime = std::fs::metadata(&state_file).unwrap().modified().unwrap();
        let out = stop_with(d, signal, Duration::from_secs(1));
        assert!(out.stderr.contains("stopped"), "{signal}: {}", out.stderr);
        assert_eq!(std::fs::read(&state_file).unwrap(), before, "{signal}");
        assert_eq!(
            std::fs::metadata(&state_file).unwrap().modified().unwrap(),
            mtime,
            "{signal}: state file rewritten at stop"
        );
        // Both locks are free: a cron run and a new daemon start at once.
        let run = run_popfetch(&cfg, &["run"]);
        assert_eq!(run.code, 0, "{signal}: {}", run.stderr);
        let again = daemon(&cfg, &[]);
        w.sessions(0, 3);
        stop(again, Duration::from_secs(1));
    }
}

#[test]
fn d02_sigterm_during_a_slow_retr_finishes_that_message_and_starts_no_other() {
    let (w, cfg, d) = daemon_in_a_slow_retr();
    assert!(w.smtp.transactions().is_empty(), "RETR already over");
    let out = stop(d, Duration::from_secs(10));
    assert!(out.stderr.contains("stopping"), "{}", out.stderr);
    // The RETR in progress finished and its message was delivered, recorded and deleted; m2 was not started.
    assert_eq!(accepted_subjects(&w.smtp), ["m1"]);
    assert_eq!(w.pops[0].mailbox_uids(), ["m2"]);
    assert_eq!(w.pops[0].retr_log().len(), 1, "{:?}", w.pops[0].retr_log());
    assert!(w.pops[0].sessions()[0].quit, "no clean QUIT");
    w.pops[0].update(|b| b.write_chunks = None);
    let run = run_popfetch(&cfg, &["run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(accepted_subjects(&w.smtp), ["m1", "m2"]);
    assert!(!run.stderr.contains("possible duplicate"), "{}", run.stderr);
}

/// One way to break the config file.
type Breaker<'a> = Box<dyn Fn() + 'a>;

#[test]
fn d03_sighup_with_each_kind_of_broken_config_keeps_the_daemon_on_the_old_one() {
    let w = World::new(1, SmtpBehavior::default());
    w.add(0, "a1");
    let cfg = w.write(&[0]);
    let good = std::fs::read_to_string(&cfg).unwrap();
    let d = daemon(&cfg, &[]);
    w.wait_accepted("a1");
    let variants: Vec<(&str, Breaker)> = vec![
        (
            "syntax error",
            Box::new(|| {
                write_private(&cfg, format!("{good}[[account\n").as_bytes());
            }),
        ),
        (
            "unknown key",
            Box::new(|| {
                write_private(&cfg, format!("{good}colour = \"red\"\n").as_bytes());
            }),
        ),
        (
            "invalid tls option",
            Box::new(|| {
                let bad = good.replace("tls = \"none\"", "tls = \"sometimes\"");
                assert_ne!(bad, good);
                write_private(&cfg, bad.as_bytes());
            }),
        ),
        (
            "readable by others with a password in it",
            Box::new(|| {
                write_private(&cfg, good.as_bytes());
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
            }),
        ),
        (
            "missing file",
            Box::new(|| std::fs::remove_file(&cfg).unwrap()),
        ),
    ];
    for (k, (what, break_it)) in variants.iter().enumerate() {
        break_it();
        d.signal("HUP");
        std::thread::sleep(Duration::from_millis(300));
        // Still serving on the old configuration: a wake-up polls the account and delivers.
        let tag = format!("during-{k}");
        w.add(0, &tag);
        d.signal("USR1");
        assert!(
            wait_until(WAIT, || accepted_subjects(&w.smtp).contains(&tag)),
            "{what}: the daemon stopped serving"
        );
    }
    write_private(&cfg, good.as_bytes());
    d.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    let out = stop(d, Duration::from_secs(1));
    assert_eq!(
        out.stderr
            .matches("reload failed, keeping the previous configuration")
            .count(),
        variants.len(),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("colour"), "{}", out.stderr);
    assert!(out.stderr.contains("sometimes"), "{}", out.stderr);
    assert!(
        out.stderr.contains("configuration reloaded"),
        "{}",
        out.stderr
    );
    assert_no_secret("daemon log", out.stderr.as_bytes(), "alice", "s3cret-pa55");
}

#[test]
fn d06_d09_a_hundred_failed_polls_leak_no_descriptor_no_memory_and_no_zombie() {
    let w = World::new(1, SmtpBehavior::default());
    // Every connection ends right after the greeting (a temporary failure), and every poll runs the password
    // command first: a hundred polls are a hundred children to reap and a hundred sockets to close.
    w.pops[0].update(|b| b.close_after_greeting = true);
    let mut b = ConfigBuilder::new(w.smtp.port(), w.state.path());
    b = b.account(w.account(0).password(None).extra(
        "password_command",
        r#"["/bin/sh", "-c", "echo s3cret-pa55"]"#,
    ));
    let cfg = b.write_to(w.dir.path());
    let d = daemon(&cfg, &[]);
    let pid = d.pid();
    // The first poll runs on its own: a SIGUSR1 before the handlers are installed would kill the daemon.
    w.sessions(0, 1);
    let polls = |n: usize| {
        let t = Instant::now();
        while w.pops[0].sessions().len() < n {
            assert!(
                t.elapsed() < WAIT * 3,
                "only {} polls",
                w.pops[0].sessions().len()
            );
            d.signal("USR1");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    polls(10);
    let (fds, rss) = (fd_count(pid), rss_kib(pid));
    assert!(fds > 0 && rss > 0, "no /proc data for {pid}");
    polls(110);
    let (fds_after, rss_after) = (fd_count(pid), rss_kib(pid));
    assert!(
        fds_after <= fds,
        "descriptors grew from {fds} to {fds_after} over 100 failed polls"
    );
    assert!(
        rss_after < rss + 8 * 1024,
        "RSS grew from {rss} KiB to {rss_after} KiB over 100 failed polls"
    );
    let zombies: Vec<_> = children(pid).into_iter().filter(|c| c.1 == 'Z').collect();
    assert!(zombies.is_empty(), "zombie password commands: {zombies:?}");
    let out = stop(d, Duration::from_secs(1));
    // One line per change: the first failure and the growing delays are logged, not a hundred lines.
    let failures = out.stderr.matches("temporary failure #").count();
    assert!(
        (1..=12).contains(&failures),
        "{failures} failure lines: {}",
        out.stderr
    );
    assert!(w.pops[0].sessions().len() >= 110);
}

#[test]
fn d11_sigterm_while_the_password_command_runs_exits_at_once_and_kills_it() {
    let w = World::new(1, SmtpBehavior::default());
    let pidfile = w.dir.path().join("helper.pid");
    let script = format!("echo $$ > {}; exec sleep 30", pidfile.display());
    let cfg = ConfigBuilder::new(w.smtp.port(), w.state.path())
        .account(w.account(0).password(None).extra(
            "password_command",
            &format!("[\"/bin/sh\", \"-c\", {}]", toml_str(&script)),
        ))
        .write_to(w.dir.path());
    let d = daemon(&cfg, &[]);
    let helper = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
    };
    assert!(
        wait_until(WAIT, || helper(&pidfile).is_some()),
        "helper never ran"
    );
    let child = helper(&pidfile).unwrap();
    assert!(!dead(child));
    // The default stop grace is 11 minutes; nothing is in flight, so the stop is immediate.
    let out = stop(d, Duration::from_secs(1));
    assert!(
        wait_until(Duration::from_secs(5), || dead(child)),
        "password command {child} survived the daemon"
    );
    assert!(
        w.pops[0].sessions().is_empty(),
        "connected without a password"
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
}

#[test]
fn t07_d11_a_stalled_tls_handshake_holds_up_no_other_account_and_sigterm_ends_it() {
    let w = World::new(2, SmtpBehavior::default());
    // Account 0's "server" completes TCP (the kernel's backlog) and never says a word: the ClientHello goes
    // unanswered. Account 1 is healthy.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    w.add(1, "b1");
    let cfg = ConfigBuilder::new(w.smtp.port(), w.state.path())
        .account(
            AccountCfg::new("acct0", silent_port, "implicit")
                .extra("interval", "3600")
                .extra("timeout", "2"),
        )
        .account(w.account(1))
        .write_to(w.dir.path());
    let t = Instant::now();
    let d = daemon(&cfg, &[]);
    w.wait_accepted("b1");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "b1 waited for the stalled account"
    );
    // The handshake deadline ends account 0's poll (a temporary failure); the other account goes on.
    std::thread::sleep(Duration::from_millis(2500));
    w.add(1, "b2");
    d.signal("USR1");
    w.wait_accepted("b2");
    // Account 0 is in its handshake again (the wake-up); SIGTERM does not wait for the 2 s deadline.
    std::thread::sleep(Duration::from_millis(200));
    let out = stop(d, Duration::from_secs(1));
    assert!(
        out.stderr.contains("\"acct0\"") && out.stderr.contains("timed out"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("temporary failure #1"),
        "{}",
        out.stderr
    );
    assert_eq!(accepted_subjects(&w.smtp), ["b1", "b2"]);
    drop(silent);
}

#[test]
fn t25_every_poll_enforces_stls_afresh_in_the_daemon() {
    let pki = TestPki::new();
    let mut b = Pop3Behavior::stls(pki.default_server_config());
    // STLS works but is not advertised (a stripping attacker): popfetch must not try it, nor log in.
    b.advertise_stls = false;
    let pop = FakePop3::start(vec![Msg::new("m1", super::mail("m1"))], b);
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let state = tempfile::tempdir().unwrap();
    let cfg = ConfigBuilder::new(smtp.port(), state.path())
        .account(
            AccountCfg::new("isp", pop.port(), "stls")
                .ca_file(&pki.ca_path)
                .extra("interval", "3600"),
        )
        .write();
    let d = daemon(&cfg.path, &[]);
    let sessions = |n: usize| {
        assert!(
            pop.wait_until(WAIT, |p| p.sessions().iter().filter(|s| s.finished).count()
                >= n),
            "fewer than {n} sessions"
        );
    };
    sessions(1);
    // The wake-up retries the stopped account: refused again, before any credential.
    d.signal("USR1");
    sessions(2);
    // The server now offers STLS: the next poll upgrades and delivers.
    pop.update(|b| b.advertise_stls = true);
    d.signal("USR1");
    assert!(
        wait_until(WAIT, || accepted_subjects(&smtp) == ["m1"]),
        "not delivered once STLS was offered"
    );
    sessions(3);
    // And stripped again: nothing remembered from the good poll either way, refused before credentials.
    pop.update(|b| b.advertise_stls = false);
    pop.add_messages(vec![Msg::new("m2", super::mail("m2"))]);
    d.signal("USR1");
    sessions(4);
    let out = stop(d, Duration::from_secs(1));
    let all = pop.sessions();
    for k in [0, 1, 3] {
        let verbs = all[k].verbs();
        assert!(
            !verbs
                .iter()
                .any(|v| matches!(v.as_str(), "USER" | "PASS" | "AUTH" | "APOP" | "STLS")),
            "session {k}: {verbs:?}"
        );
        assert_no_secret("client bytes", &all[k].client_bytes, "alice", "s3cret-pa55");
    }
    assert!(
        all[2].verbs().iter().any(|v| v == "STLS"),
        "{:?}",
        all[2].verbs()
    );
    assert_eq!(accepted_subjects(&smtp), ["m1"]);
    assert_eq!(pop.mailbox_uids(), ["m2"]);
    assert_eq!(
        out.stderr.matches("server does not offer stls").count(),
        3,
        "{}",
        out.stderr
    );
    assert_no_secret("daemon log", out.stderr.as_bytes(), "alice", "s3cret-pa55");
}
