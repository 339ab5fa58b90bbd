//! Interop suite (issue 3): the built `popfetch` binary against a real Dovecot POP3 server and a real Postfix,
//! both private instances on 127.0.0.1 started per test by `tests/interop/servers.sh` under a temporary
//! directory. Each test asserts what Postfix's local(8) delivered to the target's Maildir, what bounced to the
//! envelope sender's Maildir, and what is left in Dovecot's Maildir.
//!
//! The tests are `#[ignore]`d so a plain `cargo test` stays fast and needs no servers; run them with
//! `tests/interop/run.sh` (installs the packages, then `cargo test --test interop -- --ignored`). Without
//! Dovecot or Postfix installed they fail, naming the fix, unless `POPFETCH_SKIP_INTEROP=1` is set.
//!
//! What Postfix does to a message on top of popfetch's edits (so the tests can compare bytes): smtpd prepends
//! its `Received`, local(8) prepends `Return-Path`, `X-Original-To` and `Delivered-To` and writes the Maildir
//! file with LF line endings. The suite's Postfix is configured not to rewrite or add any other header
//! (`local_header_rewrite_clients =`, `always_add_missing_headers = no`); `message_drop_headers` (the default)
//! would drop a `Return-Path` the message carries, so the byte-compared messages carry none.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const IGNORE_WHY: &str = "needs dovecot and postfix: run tests/interop/run.sh";

/// How long one popfetch run may take before the test calls it hung.
const RUN_DEADLINE: Duration = Duration::from_secs(300);
/// How long Postfix may take to deliver everything it accepted.
const QUEUE_DEADLINE_SECS: u32 = 120;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/servers.sh")
}

/// Are the real servers there? `Err` names what is missing.
fn servers_available() -> Result<(), String> {
    let mut missing = Vec::new();
    for tool in ["dovecot", "postfix", "openssl", "python3"] {
        let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists())
            || Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
        if !found {
            missing.push(tool);
        }
    }
    if !missing.is_empty() {
        return Err(format!("not installed: {}", missing.join(", ")));
    }
    // Postfix and Dovecot run their own privileged masters; the harness chowns mailboxes.
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id -u: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("the interop suite must run as root (it starts Postfix and Dovecot)".into());
    }
    Ok(())
}

/// A running pair of servers; `Drop` stops both and removes their directory, also when the test panics.
struct Servers {
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Servers {
    /// Start the servers, or `None` when they are missing and `POPFETCH_SKIP_INTEROP=1` says to skip.
    fn start(test: &str) -> Option<Servers> {
        Servers::start_with(test, &[])
    }

    /// [`Servers::start`] with extra environment for `servers.sh start` (e.g. `OAUTH2_INTROSPECTION_URL`).
    fn start_with(test: &str, env: &[(&str, &str)]) -> Option<Servers> {
        if let Err(why) = servers_available() {
            if std::env::var("POPFETCH_SKIP_INTEROP").as_deref() == Ok("1") {
                eprintln!("interop test {test} SKIPPED ({why}; POPFETCH_SKIP_INTEROP=1)");
                return None;
            }
            panic!(
                "interop test {test} cannot run: {why}. Run the suite as root with tests/interop/run.sh (it \
                 installs Dovecot and Postfix with .ci/interop-deps.sh), or set POPFETCH_SKIP_INTEROP=1 to skip it."
            );
        }
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "popfetch-interop-{}-{}-{nanos:x}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        // The guard exists before the script runs, so a half-started pair is stopped too.
        let mut servers = Servers {
            dir,
            env: HashMap::new(),
        };
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&servers.dir)
            .envs(env.iter().copied())
            .output()
            .expect("run servers.sh");
        assert!(
            out.status.success(),
            "servers.sh start failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env =
            fs::read_to_string(servers.dir.join("env")).expect("servers.sh wrote no env file");
        servers.env = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(servers)
    }

    fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from servers.sh env"))
    }

    fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(self.get(key))
    }

    fn script(&self, cmd: &str, args: &[&str]) {
        let out = Command::new("bash")
            .arg(script())
            .arg(cmd)
            .arg(&self.dir)
            .args(args)
            .output()
            .expect("run servers.sh");
        assert!(
            out.status.success(),
            "servers.sh {cmd} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Put messages into Dovecot's Maildir `new/`, byte for byte, owned by the mail user. Names sort in the
    /// order given.
    fn put(&self, messages: &[Vec<u8>]) {
        static BATCH: AtomicUsize = AtomicUsize::new(0);
        let batch = BATCH.fetch_add(1, Ordering::SeqCst);
        let maildir = self.path("DOVECOT_MAILDIR");
        let uid: u32 = self.get("MAIL_UID").parse().expect("MAIL_UID");
        let gid: u32 = self.get("MAIL_GID").parse().expect("MAIL_GID");
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for (i, message) in messages.iter().enumerate() {
            let name = format!("{secs}.B{batch:03}M{i:06}P{}.interop", std::process::id());
            let tmp = maildir.join("tmp").join(&name);
            fs::write(&tmp, message).expect("write into Dovecot tmp/");
            std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).expect("chown message");
            fs::rename(&tmp, maildir.join("new").join(&name)).expect("move into Dovecot new/");
        }
    }

    /// Write a popfetch config for the Dovecot account; `extra` lines go into the `[[account]]` table.
    fn config(&self, tls: Tls, ca_file: &Path, extra: &str) -> PathBuf {
        self.config_for("dovecot", &self.env, tls, ca_file, extra)
    }

    /// A popfetch config for account `name` (delivering to this Postfix) whose server's facts are in `env`
    /// (servers.sh's or courier.sh's): `POP3S_PORT` or `POP3_PORT` by `tls`, `POP_USER`, `POP_PASS`.
    fn config_for(
        &self,
        name: &str,
        env: &HashMap<String, String>,
        tls: Tls,
        ca_file: &Path,
        extra: &str,
    ) -> PathBuf {
        let fact = |key: &str| -> &str {
            env.get(key)
                .unwrap_or_else(|| panic!("{key} missing from the server's env"))
        };
        let text = format!(
            "state_dir = {state:?}\n\
             \n\
             [smtp]\n\
             host = \"127.0.0.1\"\n\
             port = {smtp}\n\
             \n\
             [[account]]\n\
             name = {name:?}\n\
             host = \"localhost\"\n\
             port = {port}\n\
             tls = \"{tls}\"\n\
             ca_file = {ca:?}\n\
             user = {user:?}\n\
             password = {pass:?}\n\
             target = {target:?}\n\
             envelope_from_fallback = {sender:?}\n\
             {extra}\n",
            state = self.dir.join("popfetch-state").display().to_string(),
            smtp = self.get("SMTP_PORT"),
            port = fact(tls.port_key()),
            tls = tls.name(),
            ca = ca_file.display().to_string(),
            user = fact("POP_USER"),
            pass = fact("POP_PASS"),
            target = self.get("TARGET"),
            sender = self.get("SENDER"),
        );
        let path = self.dir.join("popfetch.toml");
        fs::write(&path, text).expect("write popfetch config");
        // It holds a password: popfetch refuses it when others can read it.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod 600");
        path
    }

    /// `popfetch run -c CONFIG`, bounded by [`RUN_DEADLINE`].
    fn run(&self, config: &Path) -> Run {
        self.popfetch(config, &["run"])
    }

    /// `popfetch ARGS -c CONFIG`, bounded by [`RUN_DEADLINE`].
    fn popfetch(&self, config: &Path, args: &[&str]) -> Run {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_popfetch"))
            .args(args)
            .arg("-c")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn popfetch");
        // Drain both pipes on threads so a chatty run cannot block on a full pipe.
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let out_t = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stdout.read_to_end(&mut v);
            v
        });
        let err_t = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stderr.read_to_end(&mut v);
            v
        });
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for popfetch") {
                break status;
            }
            if started.elapsed() > RUN_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("popfetch run did not finish within {RUN_DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let output = Output {
            status,
            stdout: out_t.join().expect("stdout thread"),
            stderr: err_t.join().expect("stderr thread"),
        };
        let run = Run {
            output,
            elapsed: started.elapsed(),
        };
        // Never print secrets: the password must not appear anywhere in popfetch's output.
        let pass = self.get("POP_PASS");
        assert!(
            !run.text().contains(pass),
            "popfetch printed the POP3 password:\n{}",
            run.text()
        );
        run
    }

    /// Wait until Postfix has delivered or bounced everything it accepted.
    fn wait_queue(&self) {
        self.script("wait-queue", &[&QUEUE_DEADLINE_SECS.to_string()]);
    }

    /// Messages local(8) delivered to the target, sorted by file name.
    fn delivered(&self) -> Vec<Vec<u8>> {
        maildir_messages(&self.path("MAILDIR"))
    }

    /// Bounces (and any other mail) delivered to the envelope sender.
    fn bounces(&self) -> Vec<Vec<u8>> {
        maildir_messages(&self.path("BOUNCE_MAILDIR"))
    }

    /// How many messages Dovecot still holds for the POP3 user.
    fn dovecot_left(&self) -> usize {
        maildir_messages(&self.path("DOVECOT_MAILDIR")).len()
    }

    fn postfix_log(&self) -> String {
        fs::read_to_string(self.path("POSTFIX_LOG")).unwrap_or_default()
    }

    fn dovecot_log(&self) -> String {
        fs::read_to_string(self.path("DOVECOT_LOG")).unwrap_or_default()
    }

    /// Everything a failing assertion should show.
    fn context(&self, run: &Run) -> String {
        format!(
            "exit {:?} after {:?}\n--- popfetch output ---\n{}\n--- postfix log (tail) ---\n{}\n--- dovecot log (tail) ---\n{}",
            run.code(),
            run.elapsed,
            run.text(),
            tail(&self.postfix_log(), 40),
            tail(&self.dovecot_log(), 20)
        )
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- {} postfix log (tail) ---\n{}\n--- dovecot log (tail) ---\n{}",
                self.dir.display(),
                tail(&self.postfix_log(), 40),
                tail(&self.dovecot_log(), 20)
            );
        }
        if std::env::var("POPFETCH_KEEP_INTEROP_DIR").as_deref() == Ok("1") {
            eprintln!(
                "interop: keeping {} (POPFETCH_KEEP_INTEROP_DIR=1); stop it with servers.sh stop",
                self.dir.display()
            );
            return;
        }
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

#[derive(Clone, Copy)]
enum Tls {
    Implicit,
    Stls,
}

impl Tls {
    fn name(self) -> &'static str {
        match self {
            Tls::Implicit => "implicit",
            Tls::Stls => "stls",
        }
    }

    /// The env key of the server's port for this mode (servers.sh and courier.sh use the same names).
    fn port_key(self) -> &'static str {
        match self {
            Tls::Implicit => "POP3S_PORT",
            Tls::Stls => "POP3_PORT",
        }
    }
}

struct Run {
    output: Output,
    elapsed: Duration,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    fn text(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The messages of a Maildir (`new/` and `cur/`), sorted by file name; an absent Maildir holds none.
fn maildir_messages(dir: &Path) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = fs::read_dir(dir.join(sub)) {
            for entry in entries {
                let entry = entry.expect("read Maildir entry");
                if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                    files.push(entry.path());
                }
            }
        }
    }
    files.sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
    files
        .into_iter()
        .map(|p| fs::read(&p).expect("read Maildir message"))
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The header fields at the top of `data` (each with its continuation lines, LF line endings), split off one
/// by one: `(field, rest)`.
fn next_field(data: &[u8]) -> (&[u8], &[u8]) {
    let mut at = 0;
    loop {
        let nl = data[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| p + at + 1)
            .unwrap_or(data.len());
        at = nl;
        if !matches!(data.get(at), Some(b' ') | Some(b'\t')) {
            return (&data[..at], &data[at..]);
        }
    }
}

fn field_named(field: &[u8], name: &str) -> bool {
    field.len() > name.len()
        && field[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        && field[name.len()] == b':'
}

/// What popfetch handed to Postfix, recovered from a delivered Maildir file: check and remove the four fields
/// Postfix adds (`Return-Path`, `X-Original-To`, `Delivered-To: target`, smtpd's `Received`) and popfetch's
/// own `Received`; return the rest, which must be the original message after the documented edits.
fn strip_added(delivered: &[u8], target: &str) -> Vec<u8> {
    let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(600)]).into_owned();
    let (rp, rest) = next_field(delivered);
    assert!(
        field_named(rp, "Return-Path"),
        "first field is not Postfix's Return-Path:\n{}",
        show(delivered)
    );
    let (xo, rest) = next_field(rest);
    assert!(
        field_named(xo, "X-Original-To"),
        "no X-Original-To from local(8):\n{}",
        show(delivered)
    );
    let (dt, rest) = next_field(rest);
    assert_eq!(
        dt,
        format!("Delivered-To: {target}\n").as_bytes(),
        "no Delivered-To from local(8):\n{}",
        show(delivered)
    );
    let (pf, rest) = next_field(rest);
    assert!(
        field_named(pf, "Received") && contains(pf, b"(Postfix)"),
        "no Received from Postfix's smtpd:\n{}",
        show(delivered)
    );
    let (ours, rest) = next_field(rest);
    assert!(
        field_named(ours, "Received") && contains(ours, b"popfetch"),
        "no Received from popfetch right below Postfix's:\n{}",
        show(delivered)
    );
    assert!(
        contains(ours, format!("<{target}>").as_bytes()),
        "popfetch's Received names no target: {}",
        show(ours)
    );
    rest.to_vec()
}

/// The original message as Postfix writes it to a Maildir: CRLF and bare LF both become LF.
fn to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

/// `got == want`, or a panic that shows where they part (a 20 MiB message is not worth printing whole).
fn assert_same_bytes(case: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        let lo = at.saturating_sub(80);
        panic!(
            "case {case}: differs at byte {at} (got {} bytes, want {})\n got: {:?}\nwant: {:?}",
            got.len(),
            want.len(),
            String::from_utf8_lossy(&got[lo..(at + 80).min(got.len())]),
            String::from_utf8_lossy(&want[lo..(at + 80).min(want.len())])
        );
    }
}

/// A plain message with CRLF line endings, no Return-Path (see the module docs), tagged `X-Case`.
fn simple(case: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Remote Sender <remote@example.org>\r\nTo: joe@example.test\r\nSubject: {case}\r\n\
         Message-ID: <{case}@example.org>\r\nX-Case: {case}\r\n{extra_headers}\r\n{body}"
    )
    .into_bytes()
}

/// The delivered message carrying `X-Case: case`, asserting there is exactly one.
fn delivered_case<'a>(delivered: &'a [Vec<u8>], case: &str) -> &'a [u8] {
    let tag = format!("\nX-Case: {case}\n");
    let hits: Vec<&Vec<u8>> = delivered
        .iter()
        .filter(|m| contains(m, tag.as_bytes()))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "case {case} delivered {} times (want exactly once)",
        hits.len()
    );
    hits[0]
}

macro_rules! servers {
    ($name:expr) => {
        match Servers::start($name) {
            Some(s) => s,
            None => return,
        }
    };
}

// ---------------------------------------------------------------------------------------------------------
// 1. The seed scenario (H-01): the loop Postfix reports only after it said 250.
// ---------------------------------------------------------------------------------------------------------

/// The messages of the seed scenario as the ISP's POP3 server holds them: a `Delivered-To` naming the final
/// recipient (exactly, and in another case: Postfix folds case when it compares, H-02), a real sender.
fn seed_messages(s: &Servers) -> Vec<Vec<u8>> {
    let sender = s.get("SENDER");
    vec![
        format!(
            "Return-Path: <{sender}>\r\nDelivered-To: joe@example.test\r\nDelivered-To: other@example.org\r\n\
             From: {sender}\r\nTo: joe@example.test\r\nSubject: seed exact\r\nX-Case: seed-exact\r\n\r\n\
             The ISP added Delivered-To for the final recipient.\r\n"
        )
        .into_bytes(),
        format!(
            "Return-Path: <{sender}>\r\nDelivered-To: JOE@Example.Test\r\nFrom: {sender}\r\nTo: joe@example.test\r\n\
             Subject: seed case\r\nX-Case: seed-case\r\n\r\nSame, in another letter case.\r\n"
        )
        .into_bytes(),
    ]
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn h01_seed_loop_bounces_with_drop_delivered_to_none() {
    let s = servers!("h01_seed_loop_bounces_with_drop_delivered_to_none");
    s.put(&seed_messages(&s));
    let config = s.config(
        Tls::Implicit,
        &s.path("CA_FILE"),
        "drop_delivered_to = \"none\"",
    );
    let run = s.run(&config);
    // Postfix answered 250 to both: at the SMTP level everything looks fine.
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    s.wait_queue();
    let log = s.postfix_log();
    assert!(
        s.delivered().is_empty(),
        "a looping message was delivered\n{}",
        s.context(&run)
    );
    assert_eq!(
        log.matches("dsn=5.4.6, status=bounced (mail forwarding loop for joe@example.test)")
            .count(),
        2,
        "Postfix did not bounce both with 5.4.6\n{}",
        s.context(&run)
    );
    let bounces = s.bounces();
    assert_eq!(
        bounces.len(),
        2,
        "want two bounces to the sender\n{}",
        s.context(&run)
    );
    for b in &bounces {
        assert!(
            contains(b, b"Subject: Undelivered Mail Returned to Sender"),
            "{}",
            String::from_utf8_lossy(b)
        );
        assert!(
            contains(b, b"mail forwarding loop for joe@example.test"),
            "{}",
            String::from_utf8_lossy(b)
        );
        assert!(
            contains(b, b"Status: 5.4.6"),
            "{}",
            String::from_utf8_lossy(b)
        );
    }
    // And the POP3 copies are gone: this is the mail loss popfetch's default rule exists to prevent.
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn h01_seed_delivered_with_default_rule_other_delivered_to_survives() {
    let s = servers!("h01_seed_delivered_with_default_rule_other_delivered_to_survives");
    let originals = seed_messages(&s);
    s.put(&originals);
    let config = s.config(Tls::Implicit, &s.path("CA_FILE"), "");
    let run = s.run(&config);
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    s.wait_queue();
    let log = s.postfix_log();
    assert!(
        !log.contains("mail forwarding loop"),
        "Postfix still saw a loop\n{}",
        s.context(&run)
    );
    assert!(
        s.bounces().is_empty(),
        "something bounced\n{}",
        s.context(&run)
    );
    let delivered = s.delivered();
    assert_eq!(delivered.len(), 2, "{}", s.context(&run));

    let exact = strip_added(delivered_case(&delivered, "seed-exact"), "joe@example.test");
    // Postfix drops the message's own Return-Path (message_drop_headers) and adds its own.
    let want = to_lf(&originals[0])
        .split(|&b| b == b'\n')
        .filter(|l| !l.starts_with(b"Delivered-To: joe@") && !l.starts_with(b"Return-Path:"))
        .collect::<Vec<_>>()
        .join(&b'\n');
    assert_eq!(
        String::from_utf8_lossy(&exact),
        String::from_utf8_lossy(&want)
    );
    assert!(
        exact
            .split(|&b| b == b'\n')
            .any(|l| l == b"Delivered-To: other@example.org"),
        "the other Delivered-To was removed"
    );

    let case = strip_added(delivered_case(&delivered, "seed-case"), "joe@example.test");
    assert!(
        !contains(&case, b"JOE@Example.Test"),
        "case-variant Delivered-To survived"
    );
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
}

// ---------------------------------------------------------------------------------------------------------
// 2. TLS: implicit and STLS deliver; a wrong CA refuses before any credential.
// ---------------------------------------------------------------------------------------------------------

fn tls_delivers(tls: Tls, test: &str) {
    let s = servers!(test);
    let original = simple(test, "", "over TLS\r\n");
    s.put(std::slice::from_ref(&original));
    let run = s.run(&s.config(tls, &s.path("CA_FILE"), ""));
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    s.wait_queue();
    let delivered = s.delivered();
    assert_eq!(delivered.len(), 1, "{}", s.context(&run));
    assert_eq!(
        strip_added(&delivered[0], "joe@example.test"),
        to_lf(&original)
    );
    assert!(s.bounces().is_empty());
    assert_eq!(s.dovecot_left(), 0);
    // Dovecot saw a TLS login (for STLS: on the plaintext port, after the upgrade).
    let log = s.dovecot_log();
    assert!(
        log.lines()
            .any(|l| l.contains("Login: user=<joe>") && l.contains("TLS")),
        "no TLS login in Dovecot's log\n{}",
        s.context(&run)
    );
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn t_implicit_tls_delivers() {
    tls_delivers(Tls::Implicit, "t_implicit_tls_delivers");
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn t_stls_delivers() {
    tls_delivers(Tls::Stls, "t_stls_delivers");
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn t_wrong_ca_refused_before_any_credential() {
    let s = servers!("t_wrong_ca_refused_before_any_credential");
    s.put(&[simple("wrong-ca", "", "must stay on the server\r\n")]);
    for tls in [Tls::Implicit, Tls::Stls] {
        let run = s.run(&s.config(tls, &s.path("WRONG_CA_FILE"), ""));
        assert_eq!(
            run.code(),
            Some(77),
            "tls = {}: {}",
            tls.name(),
            s.context(&run)
        );
        let log = s.dovecot_log();
        // Dovecot logs every authentication attempt ("Login:", "auth failed", "N attempts"); there must be none.
        assert!(
            !log.contains("Login:"),
            "a login happened\n{}",
            s.context(&run)
        );
        assert!(
            !log.contains("auth failed"),
            "credentials were sent\n{}",
            s.context(&run)
        );
        for line in log.lines().filter(|l| l.contains("pop3-login")) {
            assert!(
                line.contains("no auth attempts"),
                "Dovecot saw an authentication attempt: {line}\n{}",
                s.context(&run)
            );
        }
    }
    s.wait_queue();
    assert!(s.delivered().is_empty());
    assert_eq!(s.dovecot_left(), 1);
    assert!(
        !s.postfix_log().contains("client=localhost"),
        "a message reached Postfix"
    );
}

/// Issue 9: `check --connect` against the real servers: Dovecot's certificate fingerprint as openssl prints it,
/// the new messages counted, Postfix's answer to the RCPT probe, and nothing changed on either side.
#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn check_connect_reports_both_servers_and_changes_nothing() {
    let s = servers!("check_connect_reports_both_servers_and_changes_nothing");
    s.put(&[
        simple("check-1", "", "stays\r\n"),
        simple("check-2", "", "stays too\r\n"),
    ]);
    let fp = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(s.dir.join("tls/server.pem"))
        .output()
        .expect("openssl");
    let fp = String::from_utf8_lossy(&fp.stdout);
    let fp = fp.trim().rsplit('=').next().unwrap().to_owned();
    let config = s.config(Tls::Implicit, &s.path("CA_FILE"), "");
    let run = s.popfetch(&config, &["check", "--connect"]);
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    let out = String::from_utf8_lossy(&run.output.stdout).into_owned();
    for want in [
        format!("POP3 ok (TLS, certificate SHA-256 {fp}, logged in, 2 messages, 2 new)"),
        format!("accepts RCPT TO:<{}>: 250 2.1.5 Ok", s.get("TARGET")),
        "; result ok".to_owned(),
    ] {
        assert!(out.contains(&want), "{want:?} not in\n{}", s.context(&run));
    }
    // A target Postfix does not know is a configuration error, before any message.
    let text = fs::read_to_string(&config).unwrap().replace(
        &format!("target = {:?}", s.get("TARGET")),
        "target = \"nobody-here@example.test\"",
    );
    fs::write(&config, text).unwrap();
    let run = s.popfetch(&config, &["check", "--connect"]);
    assert_eq!(run.code(), Some(78), "{}", s.context(&run));
    let out = String::from_utf8_lossy(&run.output.stdout).into_owned();
    assert!(
        out.contains("550 to RCPT TO: 5.1.1") && out.contains("POP3 ok (TLS"),
        "{}",
        s.context(&run)
    );
    // Nothing was fetched, deleted, queued or recorded.
    s.wait_queue();
    assert_eq!(s.dovecot_left(), 2, "{}", s.context(&run));
    assert!(s.delivered().is_empty() && s.bounces().is_empty());
    assert!(!s.dir.join("popfetch-state").join("dovecot.state").exists());
    let log = s.dovecot_log();
    let logouts: Vec<&str> = log.lines().filter(|l| l.contains("retr=")).collect();
    assert_eq!(logouts.len(), 2, "one POP3 session per check\n{log}");
    for line in logouts {
        assert!(
            line.contains("retr=0/0") && line.contains("del=0/"),
            "{line}\n{log}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// 3. Content: every message arrives exactly once, byte-identical after the documented edits.
// ---------------------------------------------------------------------------------------------------------

fn content_messages() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    v.push((
        "dots".into(),
        simple(
            "dots",
            "",
            ".\r\n..\r\n...\r\n.leading dot\r\n..two leading dots\r\n . space first\r\n\
             a line\r\n.\r\nafter a lone dot\r\n.\r\n",
        ),
    ));
    v.push((
        "utf8".into(),
        simple(
            "utf8",
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\
             X-Raw-Utf8: Grüße aus Köln\r\n",
            "Grüße, 日本語のテキスト, emoji 📬, Ελληνικά.\r\n\u{00e9}t\u{00e9}\r\n",
        ),
    ));
    // ISO-2022-JP: 7-bit with ESC sequences ("日本語" then back to ASCII).
    let mut jp = simple(
        "iso2022jp",
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n",
        "",
    );
    jp.extend_from_slice(b"\x1b$BF|K\\8l\x1b(B text\r\n\x1b$B$3$s$K$A$O\x1b(B\r\n");
    v.push(("iso2022jp".into(), jp));
    // A base64 attachment of all 256 byte values, 76-character lines.
    let mut blob = Vec::new();
    for i in 0..4096u32 {
        blob.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
    }
    let b64 = base64_lines(&blob);
    v.push((
        "base64".into(),
        simple(
            "base64",
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0undary\"\r\n",
            &format!(
                "preamble\r\n--b0undary\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b0undary\r\n\
                 Content-Type: application/octet-stream; name=\"blob.bin\"\r\n\
                 Content-Disposition: attachment; filename=\"blob.bin\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{b64}--b0undary--\r\n"
            ),
        ),
    ));
    // 998-octet lines (RFC 5322 §2.1.1's limit), in the body and as a header field.
    let long = "x".repeat(998);
    let long_header = format!("X-Long: {}\r\n", "h".repeat(998 - "X-Long: ".len()));
    v.push((
        "998".into(),
        simple(
            "998",
            &long_header,
            &format!("{long}\r\n.{}\r\n{long}\r\n", &long[1..]),
        ),
    ));
    // Bare LF line endings (how most Maildir files are stored).
    let lf = String::from_utf8(simple(
        "bare-lf",
        "",
        "line one\r\nline two\r\n.dot\r\n\r\nend\r\n",
    ))
    .expect("utf8")
    .replace("\r\n", "\n");
    v.push(("bare-lf".into(), lf.into_bytes()));
    // 20 MB: base64-looking lines, with a dot-leading line every so often.
    let mut big = simple("big", "", "").to_vec();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    let mut n = 0usize;
    while big.len() < 20 * 1024 * 1024 {
        if n.is_multiple_of(1000) {
            big.extend_from_slice(format!(".dot line {n}\r\n").as_bytes());
        }
        big.extend_from_slice(line);
        n += 1;
    }
    v.push(("big".into(), big));
    v
}

fn base64_lines(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut enc = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                enc.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                enc.push('=');
            }
        }
    }
    let mut out = String::new();
    for l in enc.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(l).expect("ascii"));
        out.push_str("\r\n");
    }
    out
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn p_content_arrives_once_byte_identical() {
    let s = servers!("p_content_arrives_once_byte_identical");
    let messages = content_messages();
    s.put(&messages.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
    let run = s.run(&s.config(Tls::Implicit, &s.path("CA_FILE"), ""));
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    s.wait_queue();
    let delivered = s.delivered();
    assert_eq!(delivered.len(), messages.len(), "{}", s.context(&run));
    for (case, original) in &messages {
        let got = strip_added(delivered_case(&delivered, case), "joe@example.test");
        assert_same_bytes(case, &got, &to_lf(original));
    }
    assert!(s.bounces().is_empty(), "{}", s.context(&run));
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
}

// ---------------------------------------------------------------------------------------------------------
// 4. keep = true / false.
// ---------------------------------------------------------------------------------------------------------

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn c_keep_true_three_runs_each_delivered_once() {
    let s = servers!("c_keep_true_three_runs_each_delivered_once");
    let config = s.config(Tls::Implicit, &s.path("CA_FILE"), "keep = true");
    s.put(&[
        simple("keep-1", "", "one\r\n"),
        simple("keep-2", "", "two\r\n"),
    ]);
    let first = s.run(&config);
    assert_eq!(first.code(), Some(0), "{}", s.context(&first));
    s.put(&[simple("keep-3", "", "three\r\n")]);
    let second = s.run(&config);
    assert_eq!(second.code(), Some(0), "{}", s.context(&second));
    let third = s.run(&config);
    assert_eq!(third.code(), Some(0), "{}", s.context(&third));
    s.wait_queue();
    let delivered = s.delivered();
    assert_eq!(delivered.len(), 3, "{}", s.context(&third));
    for case in ["keep-1", "keep-2", "keep-3"] {
        delivered_case(&delivered, case);
    }
    assert_eq!(
        s.dovecot_left(),
        3,
        "keep = true deleted something\n{}",
        s.context(&third)
    );
    let retr_total: usize = s
        .dovecot_log()
        .lines()
        .filter_map(|l| l.split("retr=").nth(1))
        .filter_map(|r| r.split('/').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(
        retr_total,
        3,
        "each message is downloaded once, not every run\n{}",
        s.context(&third)
    );
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn c_keep_false_empties_the_mailbox() {
    let s = servers!("c_keep_false_empties_the_mailbox");
    s.put(&[
        simple("del-1", "", "one\r\n"),
        simple("del-2", "", "two\r\n"),
        simple("del-3", "", "three\r\n"),
    ]);
    let config = s.config(Tls::Implicit, &s.path("CA_FILE"), "keep = false");
    let run = s.run(&config);
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
    let again = s.run(&config);
    assert_eq!(again.code(), Some(0), "{}", s.context(&again));
    s.wait_queue();
    assert_eq!(s.delivered().len(), 3, "{}", s.context(&again));
    assert!(s.bounces().is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// 5. 1000 messages over one SMTP connection.
// ---------------------------------------------------------------------------------------------------------

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn s_thousand_messages_one_smtp_connection() {
    let s = servers!("s_thousand_messages_one_smtp_connection");
    let messages: Vec<Vec<u8>> = (0..1000)
        .map(|i| simple(&format!("many-{i:04}"), "", &format!("message {i}\r\n")))
        .collect();
    s.put(&messages);
    // servers.sh probed the SMTP port once at start; count only what comes after.
    let before = s.postfix_log().len();
    let run = s.run(&s.config(Tls::Implicit, &s.path("CA_FILE"), ""));
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    let queued = Instant::now();
    s.wait_queue();
    eprintln!(
        "1000 messages: popfetch run {:?}, Postfix delivery after it {:?}",
        run.elapsed,
        queued.elapsed()
    );
    let log = s.postfix_log();
    let during = &log[before..];
    let connects = during
        .lines()
        .filter(|l| l.contains("smtpd[") && l.contains(": connect from "))
        .count();
    assert_eq!(
        connects,
        1,
        "popfetch used {connects} SMTP connections\n{}",
        s.context(&run)
    );
    assert!(
        during.contains("mail=1000 rcpt=1000 data=1000"),
        "the one session did not carry all 1000 messages\n{}",
        s.context(&run)
    );
    let delivered = s.delivered();
    assert_eq!(delivered.len(), 1000, "{}", s.context(&run));
    let mut seen = std::collections::HashSet::new();
    for m in &delivered {
        let at = m
            .windows(14)
            .position(|w| w == b"\nX-Case: many-")
            .expect("X-Case")
            + 1;
        let end = m[at..].iter().position(|&b| b == b'\n').expect("line end") + at;
        assert!(seen.insert(m[at..end].to_vec()), "duplicate delivery");
    }
    assert!(s.bounces().is_empty());
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
}

// ---------------------------------------------------------------------------------------------------------
// 6. Postfix down: exit 75, nothing deleted; back up: everything delivered.
// ---------------------------------------------------------------------------------------------------------

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn s_postfix_down_tempfail_then_delivers() {
    let s = servers!("s_postfix_down_tempfail_then_delivers");
    let originals = [
        simple("down-1", "", "one\r\n"),
        simple("down-2", "", "two\r\n"),
        simple("down-3", "", "three\r\n"),
    ];
    s.put(&originals);
    let config = s.config(Tls::Implicit, &s.path("CA_FILE"), "");
    s.script("stop-postfix", &[]);
    let down = s.run(&config);
    assert_eq!(down.code(), Some(75), "{}", s.context(&down));
    assert_eq!(
        s.dovecot_left(),
        3,
        "a message was deleted while the MTA was down\n{}",
        s.context(&down)
    );
    // The MTA is contacted before the first RETR, so an outage costs no download.
    for line in s.dovecot_log().lines().filter(|l| l.contains("retr=")) {
        assert!(
            line.contains("retr=0/0") && line.contains("del=0/"),
            "{line}\n{}",
            s.context(&down)
        );
    }
    s.script("start-postfix", &[]);
    let up = s.run(&config);
    assert_eq!(up.code(), Some(0), "{}", s.context(&up));
    s.wait_queue();
    let delivered = s.delivered();
    assert_eq!(delivered.len(), 3, "{}", s.context(&up));
    for (i, original) in originals.iter().enumerate() {
        let got = strip_added(
            delivered_case(&delivered, &format!("down-{}", i + 1)),
            "joe@example.test",
        );
        assert_eq!(got, to_lf(original));
    }
    assert!(s.bounces().is_empty());
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&up));
}

/// Issue 9 point 1 (catalog S-03): Postfix applies `smtpd_sender_restrictions` at `RCPT TO`
/// (`smtpd_delay_reject = yes`), so a blocked sender refuses one message's RCPT with `554 5.7.1 <...>: Sender
/// address rejected: Access denied`. That message is rejected and kept; the ones after it are delivered.
#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn s03_postfix_sender_restriction_rejects_one_message_and_the_poll_goes_on() {
    let s = servers!("s03_postfix_sender_restriction_rejects_one_message_and_the_poll_goes_on");
    s.script(
        "postconf",
        &["smtpd_sender_restrictions = check_sender_access inline:{blocked@spam.example=REJECT}"],
    );
    let blocked = format!(
        "Return-Path: <blocked@spam.example>\r\n{}",
        String::from_utf8(simple("sender-2", "", "two\r\n")).expect("ascii")
    );
    s.put(&[
        simple("sender-1", "", "one\r\n"),
        blocked.into_bytes(),
        simple("sender-3", "", "three\r\n"),
    ]);
    let config = s.config(Tls::Implicit, &s.path("CA_FILE"), "");
    let run = s.run(&config);
    assert_eq!(run.code(), Some(1), "{}", s.context(&run));
    let text = run.text();
    assert!(
        text.contains("Sender address rejected") && text.contains("rejected by the MTA"),
        "{}",
        s.context(&run)
    );
    assert!(
        s.postfix_log().contains("Sender address rejected"),
        "{}",
        s.context(&run)
    );
    s.wait_queue();
    let delivered = s.delivered();
    assert_eq!(delivered.len(), 2, "{}", s.context(&run));
    delivered_case(&delivered, "sender-1");
    delivered_case(&delivered, "sender-3");
    assert_eq!(
        s.dovecot_left(),
        1,
        "the rejected message stays\n{}",
        s.context(&run)
    );
    assert!(s.bounces().is_empty(), "popfetch never bounces");

    // Journalled as rejected: the next run neither fetches nor refuses it again.
    let again = s.run(&config);
    assert_eq!(again.code(), Some(0), "{}", s.context(&again));
    assert!(
        !again.text().contains("rejected by the MTA"),
        "{}",
        s.context(&again)
    );
    assert_eq!(s.dovecot_left(), 1, "{}", s.context(&again));
    assert_eq!(s.delivered().len(), 2);
}

/// The harness itself: the suite's Postfix rejects a bare LF (so the content cases prove popfetch sends none) and
/// delivers a clean message through local(8) to the target's Maildir.
#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn harness_postfix_rejects_bare_lf_and_delivers_clean_mail() {
    use std::io::{BufRead, BufReader, Write};
    let s = servers!("harness_postfix_rejects_bare_lf_and_delivers_clean_mail");
    let port: u16 = s.get("SMTP_PORT").parse().expect("SMTP_PORT");
    let session = |body: &[u8]| -> String {
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to Postfix");
        tcp.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut w = tcp.try_clone().expect("clone");
        let mut r = BufReader::new(tcp);
        let mut reply = || {
            let mut all = String::new();
            loop {
                let mut line = String::new();
                r.read_line(&mut line).expect("read reply");
                all.push_str(&line);
                if line.len() < 4 || line.as_bytes()[3] != b'-' {
                    return all;
                }
            }
        };
        reply();
        for cmd in [
            "EHLO harness\r\n",
            "MAIL FROM:<sender@example.test>\r\n",
            "RCPT TO:<joe@example.test>\r\n",
        ] {
            w.write_all(cmd.as_bytes()).expect("write");
            assert!(reply().starts_with("250"), "{cmd}");
        }
        w.write_all(b"DATA\r\n").expect("write");
        assert!(reply().starts_with("354"));
        w.write_all(body).expect("write");
        w.write_all(b".\r\n").expect("write");
        reply()
    };
    let bare = session(b"Subject: bare\r\n\r\nbare\nLF\r\n");
    assert!(
        bare.starts_with("550 5.5.2"),
        "Postfix accepted a bare LF: {bare}"
    );
    let clean = session(b"Subject: clean\r\nX-Case: clean\r\n\r\nclean\r\n");
    assert!(clean.starts_with("250"), "{clean}");
    s.wait_queue();
    let delivered = s.delivered();
    assert_eq!(delivered.len(), 1);
    assert!(contains(
        &delivered[0],
        b"\nDelivered-To: joe@example.test\n"
    ));
    assert!(contains(
        &delivered[0],
        b"\nSubject: clean\nX-Case: clean\n\nclean\n"
    ));
}

#[test]
fn interop_ignore_reason_names_the_runner() {
    // The runner script the ignore reason points at exists and is executable.
    assert!(IGNORE_WHY.contains("tests/interop/run.sh"));
    let run = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/run.sh");
    let mode = fs::metadata(&run)
        .expect("tests/interop/run.sh exists")
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "tests/interop/run.sh is not executable");
}

// ---------------------------------------------------------------------------------------------------------
// Switching from fetchmail, getmail and mpop (issue 16): the real tools, then `popfetch import`.
// ---------------------------------------------------------------------------------------------------------

#[path = "interop/import_tools.rs"]
mod import_tools;

#[path = "support/pki.rs"]
#[allow(dead_code)]
mod pki;

#[path = "support/oauth.rs"]
#[allow(dead_code)]
mod oauth_fake;

#[path = "interop/oauth.rs"]
mod oauth;

// ---------------------------------------------------------------------------------------------------------
// popfetch's LMTP client against Dovecot's LMTP server (issue 11).
// ---------------------------------------------------------------------------------------------------------

#[path = "interop/lmtp.rs"]
mod lmtp;

// ---------------------------------------------------------------------------------------------------------
// Courier's POP3 server beside Dovecot (issue 18).
// ---------------------------------------------------------------------------------------------------------

#[path = "interop/courier.rs"]
mod courier;

// ---------------------------------------------------------------------------------------------------------
// Local destinations: a Maildir, procmail, dovecot-lda (issue 12).
// ---------------------------------------------------------------------------------------------------------

#[path = "interop/destinations.rs"]
mod destinations;

// ---------------------------------------------------------------------------------------------------------
// IMAP APPEND into Dovecot's IMAP (issue 14).
// ---------------------------------------------------------------------------------------------------------

#[path = "interop/imap.rs"]
mod imap;
