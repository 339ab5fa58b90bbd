//! Running the real `popfetch` binary against the fakes: a config-file builder (TOML as in design.md "Config",
//! written 0600) and a runner with a kill-timeout and a clean environment.

use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The binary under test (only integration tests of this package see `CARGO_BIN_EXE_popfetch`).
pub fn popfetch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_popfetch"))
}

/// Default kill-timeout of [`run_popfetch`].
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// One `[[account]]`. `AccountCfg::new` fills the fakes' defaults (user `alice`, password `s3cret-pa55`, target
/// `alice@local.test`, host `127.0.0.1`).
#[derive(Debug, Clone)]
pub struct AccountCfg {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// `"implicit"`, `"stls"` or `"none"`; `None` omits the key (popfetch's default).
    pub tls: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub user: String,
    /// Inline password; `None` omits the key (use `extra` for `password_file` / `password_command`).
    pub password: Option<String>,
    pub target: String,
    pub keep: Option<bool>,
    /// `Some(true)` by default when `tls = "none"` and a password is set; `None` omits the key.
    pub allow_plaintext_password: Option<bool>,
    /// Further `key = value` lines, the value raw TOML (e.g. `("timeout", "5")`, `("received", "false")`).
    pub extra: Vec<(String, String)>,
}

impl AccountCfg {
    pub fn new(name: &str, port: u16, tls: &str) -> AccountCfg {
        AccountCfg {
            name: name.to_string(),
            host: "127.0.0.1".to_string(),
            port,
            tls: Some(tls.to_string()),
            ca_file: None,
            user: "alice".to_string(),
            password: Some("s3cret-pa55".to_string()),
            target: "alice@local.test".to_string(),
            keep: None,
            allow_plaintext_password: (tls == "none").then_some(true),
            extra: Vec::new(),
        }
    }

    pub fn ca_file(mut self, path: &Path) -> Self {
        self.ca_file = Some(path.to_path_buf());
        self
    }

    pub fn user(mut self, user: &str) -> Self {
        self.user = user.to_string();
        self
    }

    pub fn password(mut self, password: Option<&str>) -> Self {
        self.password = password.map(String::from);
        self
    }

    pub fn target(mut self, target: &str) -> Self {
        self.target = target.to_string();
        self
    }

    pub fn keep(mut self, keep: bool) -> Self {
        self.keep = Some(keep);
        self
    }

    pub fn allow_plaintext(mut self, allow: Option<bool>) -> Self {
        self.allow_plaintext_password = allow;
        self
    }

    /// Add a raw `key = value` line (value is TOML: quote strings yourself or use [`toml_str`]).
    pub fn extra(mut self, key: &str, value: &str) -> Self {
        self.extra.push((key.to_string(), value.to_string()));
        self
    }
}

/// A TOML basic string for `s`, escaped.
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_path(p: &Path) -> String {
    toml_str(&p.to_string_lossy())
}

/// Builds a popfetch config for the fakes.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    pub state_dir: PathBuf,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// Raw top-level `key = value` lines.
    pub top_extra: Vec<(String, String)>,
    /// Raw lines appended to `[smtp]`.
    pub smtp_extra: Vec<(String, String)>,
    pub accounts: Vec<AccountCfg>,
}

/// A written config file and the temp dir holding it (the file lives as long as this value).
pub struct TestConfig {
    pub path: PathBuf,
    pub dir: TempDir,
}

impl ConfigBuilder {
    pub fn new(smtp_port: u16, state_dir: &Path) -> ConfigBuilder {
        ConfigBuilder {
            state_dir: state_dir.to_path_buf(),
            smtp_host: "127.0.0.1".to_string(),
            smtp_port,
            top_extra: Vec::new(),
            smtp_extra: Vec::new(),
            accounts: Vec::new(),
        }
    }

    pub fn account(mut self, account: AccountCfg) -> Self {
        self.accounts.push(account);
        self
    }

    pub fn top(mut self, key: &str, value: &str) -> Self {
        self.top_extra.push((key.to_string(), value.to_string()));
        self
    }

    pub fn smtp(mut self, key: &str, value: &str) -> Self {
        self.smtp_extra.push((key.to_string(), value.to_string()));
        self
    }

    /// The TOML text.
    pub fn render(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "state_dir = {}", toml_path(&self.state_dir));
        for (k, v) in &self.top_extra {
            let _ = writeln!(t, "{k} = {v}");
        }
        let _ = writeln!(
            t,
            "\n[smtp]\nhost = {}\nport = {}",
            toml_str(&self.smtp_host),
            self.smtp_port
        );
        for (k, v) in &self.smtp_extra {
            let _ = writeln!(t, "{k} = {v}");
        }
        for a in &self.accounts {
            let _ = writeln!(t, "\n[[account]]");
            let _ = writeln!(t, "name = {}", toml_str(&a.name));
            let _ = writeln!(t, "host = {}", toml_str(&a.host));
            let _ = writeln!(t, "port = {}", a.port);
            if let Some(tls) = &a.tls {
                let _ = writeln!(t, "tls = {}", toml_str(tls));
            }
            if let Some(ca) = &a.ca_file {
                let _ = writeln!(t, "ca_file = {}", toml_path(ca));
            }
            let _ = writeln!(t, "user = {}", toml_str(&a.user));
            if let Some(p) = &a.password {
                let _ = writeln!(t, "password = {}", toml_str(p));
            }
            // An empty target is left out (a multidrop account has none).
            if !a.target.is_empty() {
                let _ = writeln!(t, "target = {}", toml_str(&a.target));
            }
            if let Some(keep) = a.keep {
                let _ = writeln!(t, "keep = {keep}");
            }
            if let Some(allow) = a.allow_plaintext_password {
                let _ = writeln!(t, "allow_plaintext_password = {allow}");
            }
            for (k, v) in &a.extra {
                let _ = writeln!(t, "{k} = {v}");
            }
        }
        t
    }

    /// Write `config.toml` (mode 0600) into a new temp dir.
    pub fn write(&self) -> TestConfig {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = self.write_to(dir.path());
        TestConfig { path, dir }
    }

    /// Write `config.toml` (mode 0600) into `dir` and return its path.
    pub fn write_to(&self, dir: &Path) -> PathBuf {
        write_private(&dir.join("config.toml"), self.render().as_bytes())
    }
}

/// Create (or truncate) `path` with mode 0600 and write `bytes`.
pub fn write_private(path: &Path, bytes: &[u8]) -> PathBuf {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("create private file");
    f.write_all(bytes).expect("write private file");
    path.to_path_buf()
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code; -1 when killed by a signal (also after a timeout).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Output {
    /// stdout and stderr together, for searching logs (e.g. for secrets).
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A popfetch process started with [`spawn_popfetch`].
pub struct Running {
    child: Child,
    stdout: Option<Receiver<Vec<u8>>>,
    stderr: Option<Receiver<Vec<u8>>>,
    started: Instant,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal by name (`"TERM"`, `"HUP"`, `"KILL"`) via kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "kill -{name} {}",
            self.child.id()
        );
    }

    /// Wait up to `timeout`; kill the process if it is still running then.
    pub fn wait(mut self, timeout: Duration) -> Output {
        let mut timed_out = false;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if self.started.elapsed() >= timeout => {
                    timed_out = true;
                    self.kill_group();
                    break self.child.wait().ok();
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break None,
            }
        };
        // Bounded: a grandchild that escaped the process group may hold the pipe open.
        let take = |r: Option<Receiver<Vec<u8>>>| {
            let bytes = r
                .and_then(|r| r.recv_timeout(Duration::from_secs(5)).ok())
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        Output {
            code: status.and_then(|s| s.code()).unwrap_or(-1),
            stdout: take(self.stdout.take()),
            stderr: take(self.stderr.take()),
            timed_out,
            elapsed: self.started.elapsed(),
        }
    }
}

impl Running {
    /// SIGKILL the child's whole process group (it was started as a group leader), so helpers it spawned die too.
    fn kill_group(&mut self) {
        let pgid = format!("-{}", self.child.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .status()
            .is_ok_and(|s| s.success());
        if !killed {
            let _ = self.child.kill();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill_group();
            let _ = self.child.wait();
        }
    }
}

/// Variables removed from the child's environment: proxies (the fakes are on loopback), log filters, and trust
/// overrides that would change which CA popfetch uses.
const SCRUBBED_ENV: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "POPFETCH_CONFIG",
];

/// Start any command with the scrubbed environment plus `env`, capturing stdout and stderr.
pub fn spawn_command(mut cmd: Command, env: &[(&str, &str)]) -> Running {
    for k in SCRUBBED_ENV {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().expect("spawn child process");
    let drain = |r: Option<Box<dyn Read + Send>>| {
        r.map(|mut r| {
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
            rx
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    Running {
        child,
        stdout,
        stderr,
        started: Instant::now(),
    }
}

/// Start `popfetch -c CONFIG ARGS...` (for tests that signal or kill it mid-run).
pub fn spawn_popfetch(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(popfetch_bin());
    cmd.arg("-c").arg(config).args(args);
    spawn_command(cmd, env)
}

/// Run `popfetch -c CONFIG ARGS...` to completion (killed after [`RUN_TIMEOUT`]).
pub fn run_popfetch(config: &Path, args: &[&str]) -> Output {
    run_popfetch_env(config, args, &[])
}

/// [`run_popfetch`] with extra environment variables.
pub fn run_popfetch_env(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    spawn_popfetch(config, args, env).wait(RUN_TIMEOUT)
}
