//! Issue 9, point 3: the configuration is found where users put it, in an environment as bare as cron's (only
//! `HOME`): `$XDG_CONFIG_HOME/popfetch/config.toml`, else `$HOME/.config/popfetch/config.toml`, then
//! `/etc/popfetch/config.toml`; the state defaults to `$XDG_STATE_HOME/popfetch`, else
//! `$HOME/.local/state/popfetch` (`/var/lib/popfetch` for root). Every run here has a cleared environment.

mod support;

use std::path::Path;
use std::process::Command;

use support::run::{spawn_command, toml_str, write_private};
use support::world::*;
use support::*;

const SYSTEM_CONFIG: &str = "/etc/popfetch/config.toml";

/// `popfetch ARGS` with nothing in its environment but `env` (no `-c`, no PATH, no XDG variables).
fn bare(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(popfetch_bin());
    cmd.env_clear().args(args);
    let out = spawn_command(cmd, env).wait(run::RUN_TIMEOUT);
    assert!(!out.timed_out, "timed out: {}", out.all());
    assert_no_secret("output", out.all().as_bytes(), USER, PASSWORD);
    out
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap()
}

/// A config for the fakes without `state_dir` unless one is given, written where `dir` says.
fn write_config(dir: &Path, smtp_port: u16, pop_port: u16, state_dir: Option<&Path>) {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    if let Some(s) = state_dir {
        text.push_str(&format!("state_dir = {}\n", toml_str(&s.to_string_lossy())));
    }
    text.push_str(&format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\n\n[[account]]\nname = \"isp\"\nhost = \"127.0.0.1\"\n\
         port = {pop_port}\ntls = \"none\"\nallow_plaintext_password = true\nuser = \"{USER}\"\n\
         password = \"{PASSWORD}\"\ntarget = \"{TARGET}\"\n"
    ));
    write_private(&dir.join("config.toml"), text.as_bytes());
}

#[test]
fn with_only_home_set_the_config_under_dot_config_is_found_and_used() {
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap();
    let w = World::plain(msgs(2));
    // As root the default state_dir is /var/lib/popfetch: the run then names its own, so that the test leaves
    // nothing behind outside its temp dirs; `check` still shows the root default.
    let root = is_root();
    let explicit_state = root.then(|| w.state.path());
    write_config(
        &home.path().join(".config/popfetch"),
        w.smtp.port(),
        w.pop.port(),
        explicit_state,
    );
    let expected_config = home.path().join(".config/popfetch/config.toml");

    if !root {
        let out = bare(&["check"], &[("HOME", home_s)]);
        assert_eq!(out.code, 0, "{}", out.all());
        let state = home.path().join(".local/state/popfetch");
        assert_eq!(
            out.stdout.trim(),
            format!(
                "{}: ok, 1 account, state in {}",
                expected_config.display(),
                state.display()
            )
        );
    }

    let out = bare(&["run"], &[("HOME", home_s)]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), ["message 1", "message 2"]);
    let state_file = match explicit_state {
        Some(dir) => dir.join("isp.state"),
        None => home.path().join(".local/state/popfetch/isp.state"),
    };
    assert!(state_file.is_file(), "no {}", state_file.display());

    // As root, without state_dir: the system default is reported.
    if root {
        write_config(
            &home.path().join(".config/popfetch"),
            w.smtp.port(),
            w.pop.port(),
            None,
        );
        let out = bare(&["check"], &[("HOME", home_s)]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert_eq!(
            out.stdout.trim(),
            format!(
                "{}: ok, 1 account, state in /var/lib/popfetch",
                expected_config.display()
            )
        );
    }
}

#[test]
fn xdg_variables_take_precedence_over_home() {
    let home = tempfile::tempdir().unwrap();
    let xdg = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // A broken file under ~/.config proves it is not read when XDG_CONFIG_HOME is set.
    std::fs::create_dir_all(home.path().join(".config/popfetch")).unwrap();
    write_private(
        &home.path().join(".config/popfetch/config.toml"),
        b"not toml [",
    );
    write_config(&xdg.path().join("popfetch"), 25, 110, None);
    let out = bare(
        &["check"],
        &[
            ("HOME", home.path().to_str().unwrap()),
            ("XDG_CONFIG_HOME", xdg.path().to_str().unwrap()),
            ("XDG_STATE_HOME", state.path().to_str().unwrap()),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        out.stdout.trim(),
        format!(
            "{}: ok, 1 account, state in {}",
            xdg.path().join("popfetch/config.toml").display(),
            state.path().join("popfetch").display()
        )
    );
    // Without XDG_CONFIG_HOME the broken ~/.config file is the one used, and reported.
    let out = bare(&["check"], &[("HOME", home.path().to_str().unwrap())]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(
        out.stderr.contains(".config/popfetch/config.toml:1:"),
        "{}",
        out.stderr
    );
}

#[test]
fn no_config_anywhere_lists_every_path_tried_and_points_at_the_example() {
    if Path::new(SYSTEM_CONFIG).exists() {
        panic!("{SYSTEM_CONFIG} exists on this machine; this test needs a machine without it");
    }
    let home = tempfile::tempdir().unwrap();
    let out = bare(&["run"], &[("HOME", home.path().to_str().unwrap())]);
    assert_eq!(out.code, 78, "{}", out.all());
    let user = home.path().join(".config/popfetch/config.toml");
    assert!(
        out.stderr.contains(&format!(
            "no configuration file found; tried {}, {SYSTEM_CONFIG}",
            user.display()
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("config.example.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("man 5 popfetch.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("-c"), "{}", out.stderr);
    // Nothing at all in the environment: only the system file is tried.
    let out = bare(&["check"], &[]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(
        out.stderr.contains(&format!("tried {SYSTEM_CONFIG};")),
        "{}",
        out.stderr
    );
}
