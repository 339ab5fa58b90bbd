//! What a person reads (issue 9, point 7): the verbosity levels keep other crates' internals to `-vvv` (or
//! `RUST_LOG`), the summary line carries bytes and elapsed time, progress bars appear only on a terminal (driven
//! here through a real pty with util-linux's `script`), and daemon lines on stderr carry a timestamp unless stderr
//! is the journal (`JOURNAL_STREAM`).

mod support;

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::run::spawn_command;
use support::world::*;
use support::*;

/// A line from rustls's own log (its debug output when a TLS 1.3 session is set up).
const RUSTLS_LINE: &str = "ciphersuite";

#[test]
fn v_and_vv_show_popfetch_only_vvv_and_rust_log_show_the_libraries() {
    let w = World::tls(msgs(1));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["-vv", "run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // popfetch's own trace is there...
    assert!(out.stderr.contains("pop3 C: UIDL"), "{}", out.stderr);
    // ...and nothing of rustls's.
    assert!(!out.stderr.contains(RUSTLS_LINE), "{}", out.stderr);

    w.pop.add_messages(vec![Msg::new("uid-2", mail(2))]);
    let out = run(&cfg.path, &["-vvv", "run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains(RUSTLS_LINE), "{}", out.stderr);

    // RUST_LOG wins over the (absent) -v.
    w.pop.add_messages(vec![Msg::new("uid-3", mail(3))]);
    let out = run_env(&cfg.path, &["run"], &[("RUST_LOG", "rustls=debug")]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains(RUSTLS_LINE), "{}", out.stderr);
    assert!(!out.stderr.contains("delivered to"), "{}", out.stderr);
}

/// The summary line of account `isp`, e.g. `account "isp" (127.0.0.1:PORT): 2 new, 2 delivered, 0 rejected,
/// 0 skipped, 2 deleted; 366 bytes in 1.4 s; result ok`.
fn summary(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.contains("account \"isp\" (") && l.contains(" new, "))
        .unwrap_or_else(|| panic!("no summary line in {stderr}"))
        .to_owned()
}

/// The `(bytes, seconds)` of a summary line, parsed back as a script would.
fn bytes_and_seconds(line: &str) -> (u64, f64) {
    let field = line
        .split("; ")
        .find(|f| f.ends_with(" s") && f.contains(" bytes in "))
        .unwrap_or_else(|| panic!("no bytes field: {line}"));
    let (bytes, secs) = field
        .trim_end_matches(" s")
        .split_once(" bytes in ")
        .unwrap();
    (bytes.parse().unwrap(), secs.parse().unwrap())
}

#[test]
fn without_a_terminal_a_slow_run_is_plain_text_with_bytes_and_time_in_the_summary() {
    let w = World::plain(msgs(2));
    w.smtp
        .update(|b| b.delay_eod_reply = Some(Duration::from_millis(700)));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.elapsed > Duration::from_secs(1), "too quick to test");
    for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(!text.contains('\x1b'), "ESC in {what}: {text:?}");
        assert!(!text.contains('\r'), "CR in {what}: {text:?}");
    }
    let line = summary(&out.stderr);
    assert!(
        line.contains("2 new, 2 delivered, 0 rejected, 0 skipped, 2 deleted; ")
            && line.ends_with("; result ok"),
        "{line}"
    );
    let (bytes, secs) = bytes_and_seconds(&line);
    assert_eq!(bytes, (mail(1).len() + mail(2).len()) as u64);
    assert!((1.4..60.0).contains(&secs), "{line}");
    // A one-shot run's lines carry no timestamp: cron dates the mail it sends.
    assert!(
        out.stderr.lines().all(|l| !starts_with_timestamp(l)),
        "{}",
        out.stderr
    );
}

/// `popfetch ARGS` with stdin, stdout and stderr on a pseudo-terminal (`script -qfec CMD /dev/null`); returns
/// what the terminal showed.
fn on_a_terminal(cfg: &std::path::Path, args: &str) -> Output {
    let cmdline = format!("{} -c {} {args}", popfetch_bin().display(), cfg.display());
    let mut cmd = Command::new("script");
    cmd.args(["-qfec", &cmdline, "/dev/null"]);
    let out = spawn_command(cmd, &[("TERM", "xterm")]).wait(Duration::from_secs(60));
    assert!(!out.timed_out, "{}", out.all());
    out
}

#[test]
fn on_a_terminal_a_slow_run_shows_progress_and_log_lines_stay_whole() {
    // Three messages, each end-of-DATA answered after 0.8 s: the bars appear after a second.
    let w = World::plain(msgs(3));
    w.smtp
        .update(|b| b.delay_eod_reply = Some(Duration::from_millis(800)));
    let cfg = w.default_config();
    let out = on_a_terminal(&cfg.path, "run");
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects().len(), 3);
    let screen = &out.stdout;
    assert!(
        ["0/3 messages", "1/3 messages", "2/3 messages"]
            .iter()
            .any(|p| screen.contains(p)),
        "no progress: {screen:?}"
    );
    assert!(
        screen.contains("isp ["),
        "no bar for the account: {screen:?}"
    );
    // Every message's log line reached the terminal in one piece, between bar redraws.
    for n in 1..=3 {
        let start = screen
            .find(&format!("account \"isp\": uid \"uid-{n}\": "))
            .unwrap_or_else(|| panic!("no line for uid-{n}: {screen:?}"));
        let rest = &screen[start..];
        let end = rest.find("\r\n").unwrap_or(rest.len());
        let line = &rest[..end];
        assert!(
            line.contains("delivered to <alice@local.test>") && !line.contains('\x1b'),
            "torn line: {line:?}"
        );
    }
    assert!(summary(screen).contains("3 delivered"), "{screen:?}");

    // -q: warnings only, and no bar either.
    w.pop.add_messages(msgs(5).split_off(3));
    let quiet = on_a_terminal(&cfg.path, "-q run");
    assert_eq!(quiet.code, 0, "{}", quiet.all());
    assert_eq!(w.delivered_subjects().len(), 5);
    assert!(!quiet.stdout.contains("messages"), "{:?}", quiet.stdout);
}

/// An RFC 3339 UTC timestamp as tracing-subscriber writes it, e.g. `2026-12-02T08:30:00.123456Z `.
fn starts_with_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && line.split_once(' ').is_some_and(|(t, _)| t.ends_with('Z'))
}

/// `popfetch daemon` with stderr into a file and `env`: stopped after its first poll; returns the file's text.
fn daemon_stderr(w: &World, journal_stream: impl Fn(&std::fs::File) -> Option<String>) -> String {
    let cfg = w.config(w.account().extra("interval", "3600"));
    let log_path = cfg.dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = Command::new(popfetch_bin());
    cmd.arg("-c").arg(&cfg.path).arg("daemon");
    cmd.env_remove("RUST_LOG").env_remove("JOURNAL_STREAM");
    if let Some(v) = journal_stream(&log) {
        cmd.env("JOURNAL_STREAM", v);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
    let mut child = cmd.spawn().unwrap();
    assert!(
        w.pop.wait_until(Duration::from_secs(30), |p| p
            .sessions()
            .first()
            .is_some_and(|s| s.finished)),
        "the daemon never polled"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the daemon did not stop");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::read_to_string(&log_path).unwrap()
}

#[test]
fn daemon_lines_carry_a_timestamp_unless_stderr_is_the_journal() {
    // Not the journal (no JOURNAL_STREAM, or one naming another file): every line stamped.
    for other in [false, true] {
        let w = World::plain(msgs(1));
        let text = daemon_stderr(&w, |f| {
            other.then(|| {
                let m = f.metadata().unwrap();
                format!("{}:{}", m.dev(), m.ino() + 1)
            })
        });
        assert!(text.contains("daemon started"), "{text}");
        assert!(text.lines().all(starts_with_timestamp), "{text}");
    }
    // stderr is the journal's stream: journald stamps each line, so popfetch does not.
    let w = World::plain(msgs(1));
    let text = daemon_stderr(&w, |f| {
        let m = f.metadata().unwrap();
        Some(format!("{}:{}", m.dev(), m.ino()))
    });
    assert!(text.contains("daemon started"), "{text}");
    assert!(!text.lines().any(starts_with_timestamp), "{text}");
}
