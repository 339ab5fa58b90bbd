//! The real servers of the interop suite: [`Servers`] starts a private Dovecot and Postfix per test through
//! `tests/interop/servers.sh` and stops them on drop; [`Servers::popfetch`] runs the built binary against them.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::mail::{maildir_messages, tail};

/// How long one popfetch run may take before the test calls it hung.
pub(crate) const RUN_DEADLINE: Duration = Duration::from_secs(300);
/// How long Postfix may take to deliver everything it accepted.
pub(crate) const QUEUE_DEADLINE_SECS: u32 = 120;

pub(crate) fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/servers.sh")
}

/// Are the real servers there? `Err` names what is missing.
pub(crate) fn servers_available() -> Result<(), String> {
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
pub(crate) struct Servers {
    pub(crate) dir: PathBuf,
    pub(crate) env: HashMap<String, String>,
}

impl Servers {
    /// Start the servers; a test that cannot have them fails, naming the fix (an interop test never passes
    /// without having run: CI runs them all).
    pub(crate) fn start(test: &str) -> Servers {
        Servers::start_with(test, &[])
    }

    /// [`Servers::start`] with extra environment for `servers.sh start` (e.g. `OAUTH2_INTROSPECTION_URL`).
    pub(crate) fn start_with(test: &str, env: &[(&str, &str)]) -> Servers {
        if let Err(why) = servers_available() {
            panic!(
                "interop test {test} cannot run: {why}. Run the suite as root with tests/interop/run.sh (it \
                 installs Dovecot and Postfix with .ci/interop-deps.sh)."
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
        servers
    }

    pub(crate) fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from servers.sh env"))
    }

    pub(crate) fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(self.get(key))
    }

    pub(crate) fn script(&self, cmd: &str, args: &[&str]) {
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
    pub(crate) fn put(&self, messages: &[Vec<u8>]) {
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
    pub(crate) fn config(&self, tls: Tls, ca_file: &Path, extra: &str) -> PathBuf {
        self.config_for("dovecot", &self.env, tls, ca_file, extra)
    }

    /// A popfetch config for account `name` (delivering to this Postfix) whose server's facts are in `env`
    /// (servers.sh's or courier.sh's): `POP3S_PORT` or `POP3_PORT` by `tls`, `POP_USER`, `POP_PASS`.
    pub(crate) fn config_for(
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
    pub(crate) fn run(&self, config: &Path) -> Run {
        self.popfetch(config, &["run"])
    }

    /// `popfetch ARGS -c CONFIG`, bounded by [`RUN_DEADLINE`].
    pub(crate) fn popfetch(&self, config: &Path, args: &[&str]) -> Run {
        self.popfetch_env(config, args, &[])
    }
    /// [`Servers::popfetch`] with extra environment variables (e.g. `POPFETCH_FAILPOINT`, debug builds).
    pub(crate) fn popfetch_env(&self, config: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_popfetch"))
            .args(args)
            .envs(envs.iter().copied())
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
    pub(crate) fn wait_queue(&self) {
        self.script("wait-queue", &[&QUEUE_DEADLINE_SECS.to_string()]);
    }

    /// Messages local(8) delivered to the target, sorted by file name.
    pub(crate) fn delivered(&self) -> Vec<Vec<u8>> {
        maildir_messages(&self.path("MAILDIR"))
    }

    /// Bounces (and any other mail) delivered to the envelope sender.
    pub(crate) fn bounces(&self) -> Vec<Vec<u8>> {
        maildir_messages(&self.path("BOUNCE_MAILDIR"))
    }

    /// How many messages Dovecot still holds for the POP3 user.
    pub(crate) fn dovecot_left(&self) -> usize {
        maildir_messages(&self.path("DOVECOT_MAILDIR")).len()
    }

    pub(crate) fn postfix_log(&self) -> String {
        fs::read_to_string(self.path("POSTFIX_LOG")).unwrap_or_default()
    }

    pub(crate) fn dovecot_log(&self) -> String {
        fs::read_to_string(self.path("DOVECOT_LOG")).unwrap_or_default()
    }

    /// Everything a failing assertion should show.
    pub(crate) fn context(&self, run: &Run) -> String {
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
pub(crate) enum Tls {
    Implicit,
    Stls,
}

impl Tls {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tls::Implicit => "implicit",
            Tls::Stls => "stls",
        }
    }

    /// The env key of the server's port for this mode (servers.sh and courier.sh use the same names).
    pub(crate) fn port_key(self) -> &'static str {
        match self {
            Tls::Implicit => "POP3S_PORT",
            Tls::Stls => "POP3_PORT",
        }
    }
}

pub(crate) struct Run {
    pub(crate) output: Output,
    pub(crate) elapsed: Duration,
}

impl Run {
    pub(crate) fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub(crate) fn text(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}
