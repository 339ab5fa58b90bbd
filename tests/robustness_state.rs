//! Catalog cases about the state file seen from the whole binary: a state that cannot be written (C-10: a directory
//! in the temp file's place, which root cannot write through either, and a really full tmpfs), a server whose UIDs
//! all changed in keep mode (C-13), and `run --mark-seen`, the migration step for a keep account whose earlier
//! deliveries popfetch did not record (C-08). The S-13 SIZE case is here too, as it ends like C-10: nothing fetched.
//! Then what a run does with a corrupt (C-07), foreign (C-14) or locked (C-09) state, and pruning in keep mode (C-12).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::world::*;
use support::*;

fn retrs(pop: &FakePop3) -> usize {
    all_verbs(pop).iter().filter(|v| *v == "RETR").count()
}

#[test]
fn c10_unwritable_state_stops_the_poll_before_any_retr_and_every_later_poll_until_fixed() {
    let w = World::plain(msgs(1));
    let cfg = w.default_config();
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    w.pop.add_messages(msgs(3)[1..].to_vec());
    // The probe's temp file cannot be created: a directory holds its name. Unlike permission bits, this stops root.
    let tmp = w.state.path().join("isp.state.tmp");
    std::fs::create_dir(&tmp).unwrap();
    let before = std::fs::read(w.state_file()).unwrap();
    for attempt in 0..2 {
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 74, "attempt {attempt}: {}", out.all());
        assert!(out.stderr.contains("isp.state.tmp"), "{}", out.stderr);
        assert_eq!(retrs(&w.pop), 1, "fetched with an unwritable state");
        assert_eq!(w.smtp.connections(), 1, "MTA contacted");
        assert_eq!(w.pop.mailbox_uids(), ["uid-2", "uid-3"]);
        assert!(
            !w.pop.sessions().last().unwrap().quit,
            "QUIT after a state failure"
        );
    }
    assert_eq!(std::fs::read(w.state_file()).unwrap(), before);
    std::fs::remove_dir(&tmp).unwrap();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        w.delivered_subjects(),
        ["message 1", "message 2", "message 3"]
    );
    assert!(w.pop.mailbox_uids().is_empty());
}

/// A tmpfs mounted for one test, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
    // Removed after the unmount (drop order: fields after `Drop::drop`).
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` where mounting is not permitted (not root, no CAP_SYS_ADMIN).
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Tmpfs {
            path: dir.path().to_path_buf(),
            _dir: dir,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Write zeros into `path` until the file system says ENOSPC.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = [0u8; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "{e}");
                break;
            }
        }
    }
    let _ = f.sync_all();
}

#[test]
#[ignore = "ci: needs root (CAP_SYS_ADMIN) to mount a tmpfs; CI runs it through .ci/ignored-tests.sh"]
fn c10_full_disk_stops_every_poll_before_any_retr_until_space_returns() {
    let fs = Tmpfs::mount("256k").expect("mount a 256k tmpfs (needs root or CAP_SYS_ADMIN)");
    let w = World::plain(msgs(1));
    let state_dir = fs.path().join("state");
    let cfg = ConfigBuilder::new(w.smtp.port(), &state_dir)
        .account(w.account())
        .write();
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    w.pop.add_messages(msgs(3)[1..].to_vec());
    let filler = fs.path().join("filler");
    fill(&filler);
    for attempt in 0..2 {
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 74, "attempt {attempt}: {}", out.all());
        assert!(out.stderr.contains("isp.state"), "{}", out.stderr);
        assert!(out.stderr.contains("No space left"), "{}", out.stderr);
        assert_eq!(retrs(&w.pop), 1, "fetched onto a full disk");
        assert_eq!(w.smtp.connections(), 1, "MTA contacted");
        assert_eq!(w.pop.mailbox_uids(), ["uid-2", "uid-3"]);
    }
    assert!(
        !state_dir.join("isp.state.tmp").exists(),
        "probe left behind"
    );
    std::fs::remove_file(&filler).unwrap();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        w.delivered_subjects(),
        ["message 1", "message 2", "message 3"]
    );
    assert!(w.pop.mailbox_uids().is_empty());
}

/// Twelve messages whose content is [`mail`]`(i)` under UIDs `prefix-i`.
fn renamed(prefix: &str, n: usize) -> Vec<Msg> {
    (1..=n)
        .map(|i| Msg::new(format!("{prefix}-{i}"), mail(i)))
        .collect()
}

#[test]
fn c13_keep_mode_refuses_a_server_whose_uids_all_changed_and_mark_seen_resolves_it() {
    let w = World::plain(msgs(12));
    let cfg = w.config(w.account().keep(true));
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    assert_eq!(w.smtp.delivered().len(), 12);
    // The server changed its UIDL format: the same twelve messages under new UIDs.
    for i in 1..=12 {
        w.pop.remove(&format!("uid-{i}"));
    }
    w.pop.add_messages(renamed("v2", 12));
    let state = std::fs::read(w.state_file()).unwrap();
    for _ in 0..2 {
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 74, "{}", out.all());
        assert!(out.stderr.contains("UIDs all changed"), "{}", out.stderr);
        assert!(
            out.stderr.contains("--mark-seen --account isp"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("isp.state"), "{}", out.stderr);
        assert_eq!(w.smtp.delivered().len(), 12, "delivered again");
        assert_eq!(retrs(&w.pop), 12);
        // Not even pruned: the suspicious listing does not count as an absence.
        assert_eq!(std::fs::read(w.state_file()).unwrap(), state);
    }
    let out = run(&cfg.path, &["run", "--mark-seen", "--account", "isp"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("marked 12 message(s)"),
        "{}",
        out.stderr
    );
    assert_eq!(retrs(&w.pop), 12);
    // New mail after that is fetched, once.
    w.pop.add_messages(vec![Msg::new("v2-13", mail(13))]);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.smtp.delivered().len(), 13);
    assert_eq!(w.delivered_subjects()[12], "message 13");
    assert_eq!(w.pop.mailbox_uids().len(), 13, "keep mode deleted");
}

#[test]
fn c13_no_guard_in_delete_mode_or_below_ten_known_uids() {
    // Delete mode: the delivered mail is gone, so a listing of only unknown UIDs is the normal case.
    let w = World::plain(msgs(12));
    let cfg = w.default_config();
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    w.pop.add_messages(renamed("new", 12));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.smtp.delivered().len(), 24);

    // Keep mode with nine known UIDs: a small mailbox turning over entirely is not evidence of renumbering.
    let w = World::plain(msgs(9));
    let cfg = w.config(w.account().keep(true));
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    for i in 1..=9 {
        w.pop.remove(&format!("uid-{i}"));
    }
    w.pop.add_messages(renamed("new", 12));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.smtp.delivered().len(), 21);
}

#[test]
fn c08_mark_seen_records_what_the_server_holds_without_fetching_and_only_in_keep_mode() {
    // Migrating from fetchmail with `keep`: five messages it already delivered, no popfetch state yet.
    let w = World::plain(msgs(5));
    let keep_cfg = w.config(w.account().keep(true));
    let out = run(&keep_cfg.path, &["run", "--mark-seen"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stderr.contains("marked 5 message(s)"), "{}", out.stderr);
    let verbs = all_verbs(&w.pop);
    for v in ["RETR", "TOP", "DELE"] {
        assert!(!verbs.iter().any(|x| x == v), "{v} sent: {verbs:?}");
    }
    assert!(w.pop.sessions()[0].quit);
    assert_eq!(w.smtp.connections(), 0, "MTA contacted");
    assert_eq!(w.pop.mailbox_uids().len(), 5);
    assert!(w.state_file().exists());
    // Idempotent, and the next run fetches only new mail.
    let out = run(&keep_cfg.path, &["run", "--mark-seen"]);
    assert!(out.stderr.contains("marked 0 message(s)"), "{}", out.stderr);
    w.pop.add_messages(vec![Msg::new("uid-6", mail(6))]);
    let out = run(&keep_cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), ["message 6"]);
    assert_eq!(w.pop.mailbox_uids().len(), 6);

    // Delete mode: refused before connecting, as the next run would delete mail popfetch never delivered.
    let w = World::plain(msgs(2));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run", "--mark-seen"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(out.stderr.contains("keep = true"), "{}", out.stderr);
    assert!(w.pop.sessions().is_empty());
    assert!(!w.state_file().exists());
}

#[test]
fn s13_mta_size_limit_skips_larger_messages_before_retr_and_declares_size() {
    let big = {
        let mut m = mail(2);
        m.truncate(m.len() - 2);
        m.extend(std::iter::repeat_n(b'x', 1500));
        m.extend(b"\r\n");
        m
    };
    let w = World::plain(vec![
        Msg::new("uid-1", mail(1)),
        Msg::new("uid-2", big),
        Msg::new("uid-3", mail(3)),
    ]);
    w.smtp.update(|b| {
        b.ehlo_keywords = Some(vec!["SIZE 1000".into(), "8BITMIME".into()]);
    });
    let cfg = w.default_config();
    for _ in 0..2 {
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 1, "{}", out.all());
        assert!(
            out.stderr.contains("uid \"uid-2\"") && out.stderr.contains("SIZE limit of 1000"),
            "{}",
            out.stderr
        );
        assert!(
            !w.pop.retr_log().contains(&"uid-2".to_owned()),
            "oversize fetched"
        );
        assert_eq!(w.pop.mailbox_uids(), ["uid-2"]);
    }
    assert_eq!(w.delivered_subjects(), ["message 1", "message 3"]);
    for d in w.smtp.delivered() {
        assert_eq!(
            d.mail_params,
            [format!("SIZE={}", d.data.len())],
            "{:?}",
            d.mail_params
        );
    }
    // Not recorded: once the MTA takes larger mail, it goes through.
    w.smtp
        .update(|b| b.ehlo_keywords = Some(vec!["SIZE 0".into()]));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        w.delivered_subjects(),
        ["message 1", "message 3", "message 2"]
    );
    // No limit announced (SIZE 0): no SIZE= parameter either.
    assert!(w.smtp.delivered()[2].mail_params.is_empty());
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn c14_moving_from_stls_on_one_port_to_implicit_tls_on_another_keeps_the_state() {
    // keep = true, so the second server still holds message 1: only the state can stop it being delivered again.
    let pki = TestPki::new();
    let stls = FakePop3::start(msgs(1), Pop3Behavior::stls(pki.default_server_config()));
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let state = tempfile::tempdir().unwrap();
    let account = |port, tls| {
        AccountCfg::new("isp", port, tls)
            .ca_file(&pki.ca_path)
            .keep(true)
    };
    let cfg = ConfigBuilder::new(smtp.port(), state.path())
        .account(account(stls.port(), "stls"))
        .write();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(smtp.delivered().len(), 1);

    let implicit = FakePop3::start(msgs(2), Pop3Behavior::implicit(pki.default_server_config()));
    let cfg = ConfigBuilder::new(smtp.port(), state.path())
        .account(account(implicit.port(), "implicit"))
        .write();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        implicit.retr_log(),
        ["uid-2"],
        "only the new message is fetched"
    );
    let subjects: Vec<String> = smtp.delivered().iter().map(|d| subject(&d.data)).collect();
    assert_eq!(subjects, ["message 1", "message 2"]);
    // The header now names the port last used.
    let text = std::fs::read_to_string(state.path().join("isp.state")).unwrap();
    assert!(
        text.contains(&format!("server 127.0.0.1 {}\n", implicit.port())),
        "{text}"
    );
}

#[test]
fn c07_corrupt_state_delivers_nothing_and_exits_74() {
    for contents in [
        b"\x89PNG\r\n\x1a\n\0\0garbage".to_vec(),
        Vec::new(),
        b"popfetch-state 99\n".to_vec(),
    ] {
        let w = World::plain(msgs(2));
        std::fs::write(w.state_file(), &contents).unwrap();
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 74, "{}", out.all());
        assert!(
            w.pop.sessions().is_empty(),
            "connected with a corrupt state"
        );
        assert_eq!(w.smtp.connections(), 0);
        assert_eq!(
            std::fs::read(w.state_file()).unwrap(),
            contents,
            "state file changed"
        );
        assert!(
            out.stderr.contains("isp.state"),
            "file not named: {}",
            out.stderr
        );
        assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    }
    // A truncated but otherwise valid state (cut mid-record) is not an empty one either.
    let w = World::plain(msgs(2));
    let cfg = w.config(w.account().keep(true));
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    let full = std::fs::read(w.state_file()).unwrap();
    std::fs::write(w.state_file(), &full[..20.min(full.len())]).unwrap();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 74, "{}", out.all());
    assert_eq!(
        w.smtp.delivered().len(),
        2,
        "redelivered after a truncated state"
    );
}

#[test]
fn c09_two_concurrent_runs_one_exits_75_and_nothing_is_duplicated() {
    let w = World::plain_with(msgs(3), |b| {
        b.reply_delay = Some(Duration::from_millis(150))
    });
    let cfg = w.default_config();
    let first = spawn_popfetch(&cfg.path, &["run"], &[]);
    assert!(
        w.pop
            .wait_until(Duration::from_secs(20), |p| !p.sessions().is_empty()),
        "first run never connected"
    );
    let second = run(&cfg.path, &["run"]);
    assert_eq!(second.code, 75, "{}", second.all());
    assert!(second.stderr.contains("lock"), "{}", second.stderr);
    let first = first.wait(Duration::from_secs(60));
    assert_eq!(first.code, 0, "{}", first.all());
    assert_eq!(
        w.pop.sessions().len(),
        1,
        "the loser connected to the server"
    );
    assert_eq!(
        w.delivered_subjects(),
        vec!["message 1", "message 2", "message 3"]
    );
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn c12_one_empty_listing_in_keep_mode_prunes_nothing() {
    let w = World::plain(msgs(2));
    let cfg = w.config(w.account().keep(true));
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    assert_eq!(w.smtp.delivered().len(), 2);
    // An index rebuild: the server lists nothing once.
    w.pop.update(|b| {
        b.script = vec![
            Scripted::reply("UIDL", "+OK\r\n.\r\n"),
            Scripted::reply("LIST", "+OK\r\n.\r\n"),
            Scripted::reply("STAT", "+OK 0 0\r\n"),
        ]
    });
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    w.pop.update(|b| b.script.clear());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        w.smtp.delivered().len(),
        2,
        "redelivered after one empty listing"
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
}

#[test]
fn c14_state_of_another_server_is_refused_with_74() {
    let w = World::plain(msgs(1));
    let cfg = w.config(w.account().keep(true));
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    let before = std::fs::read(w.state_file()).unwrap();
    // Same account name and state_dir, another server: `localhost` is not the host name `127.0.0.1` the state
    // names (the port alone would not do: it is not part of the identity).
    let other = FakePop3::start(msgs(2), Pop3Behavior::plain());
    let mut acct = AccountCfg::new("isp", other.port(), "none").keep(true);
    acct.host = "localhost".into();
    let cfg = ConfigBuilder::new(w.smtp.port(), w.state.path())
        .account(acct)
        .write();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 74, "{}", out.all());
    assert!(other.sessions().is_empty(), "connected to the new server");
    assert_eq!(w.smtp.delivered().len(), 1);
    assert_eq!(
        std::fs::read(w.state_file()).unwrap(),
        before,
        "state rewritten"
    );
    assert!(out.stderr.contains("isp.state"), "{}", out.stderr);
    assert!(out.stderr.contains("--mark-seen"), "{}", out.stderr);
}
