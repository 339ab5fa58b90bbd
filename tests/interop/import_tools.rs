//! Switching from the real fetchmail, getmail and mpop (issue 16): each old tool runs against the interop
//! Dovecot in keep mode and writes its real UID file; `popfetch import` converts the tool's own configuration and
//! imports those UIDs; then a new message arrives and one `popfetch run` delivers exactly that one, nothing twice.
//!
//! getmail and mpop refuse to deliver as root, so they run as the mail user (`nobody`) with `runuser`; fetchmail
//! hands its mail to the interop Postfix, the other two to a Maildir of their own.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Servers, delivered_case, maildir_messages, simple};

fn have(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{tool} is not installed: .ci/interop-deps.sh installs it (Debian package {tool})"
    );
}

/// Run a command to completion (bounded), returning its combined output; panics on failure.
fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

fn popfetch(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_popfetch"));
    c.args(args);
    c
}

/// Three messages for the old tool to fetch.
fn put_three(s: &Servers, tool: &str) {
    s.put(&[
        simple(&format!("{tool}-old-1"), "", "first\r\n"),
        simple(&format!("{tool}-old-2"), "", "second\r\n"),
        simple(&format!("{tool}-old-3"), "", "third\r\n"),
    ]);
}

/// A Maildir owned by the mail user, for getmail and mpop.
fn user_maildir(s: &Servers, name: &str) -> PathBuf {
    let dir = s.dir.join(name);
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).expect("create Maildir");
    }
    chown_mail_user(s, &dir);
    dir
}

fn chown_mail_user(s: &Servers, path: &Path) {
    run_ok(
        Command::new("chown")
            .args(["-R", s.get("MAIL_UID")])
            .arg(path),
        "chown",
    );
}

fn write_rc(path: &Path, text: &str, mode: u32) {
    fs::write(path, text).expect("write rc");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod rc");
}

/// The common second half: convert `rc` with `import KIND`, point the result at this test's state directory
/// (and, for tools that delivered locally, at the interop target), import the UID file, then one new message and
/// one run must deliver exactly it.
fn switch_over(s: &Servers, kind: &str, rc: &Path, tool: &str, uid_file: &Path, account: &str) {
    let config = s.dir.join(format!("{tool}-popfetch.toml"));
    let out = run_ok(
        popfetch(&["import", kind]).arg(rc).arg("-o").arg(&config),
        "popfetch import",
    );
    assert!(out.contains("wrote"), "{out}");
    let mode = fs::metadata(&config)
        .expect("config written")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the config is created 0600");
    let text = fs::read_to_string(&config).expect("read converted config");
    assert!(
        text.contains("# came from") && !text.contains(s.get("POP_PASS")),
        "converted config:\n{text}"
    );
    // getmail and mpop delivered locally: the converted target is LOGIN@localhost, which the user points at their
    // real address (the converter's note says so); the interop Postfix delivers only example.test.
    let target = format!("target = {:?}", s.get("TARGET"));
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("target = ") {
                target.as_str()
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    // getmail and mpop named no MTA: the converted file uses popfetch's default (port 25); the interop Postfix
    // listens elsewhere.
    let smtp = if text.lines().any(|l| l == "[smtp]") {
        String::new()
    } else {
        format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\n",
            s.get("SMTP_PORT")
        )
    };
    let state = s.dir.join(format!("{tool}-state"));
    fs::write(
        &config,
        format!(
            "state_dir = {:?}\n{smtp}{text}\n",
            state.display().to_string()
        ),
    )
    .expect("rewrite config");
    let c = config.to_str().expect("utf-8 path");
    run_ok(&mut popfetch(&["-c", c, "check"]), "popfetch check");

    let out = run_ok(
        popfetch(&["-c", c, "import", "uids", tool])
            .arg(uid_file)
            .args(["--account", account, "--connect"]),
        "popfetch import uids",
    );
    assert!(out.contains("recorded 3 UID(s)"), "{out}");
    assert!(!out.contains("warning"), "{out}");
    assert!(
        out.contains("lists 3 message(s): 3 of them were imported, 0 are new"),
        "{out}"
    );

    let before = s.delivered().len();
    let case = format!("{tool}-new-after-switch");
    s.put(&[simple(
        &case,
        "",
        "the only message the first run may deliver\r\n",
    )]);
    let run = s.run(&config);
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    s.wait_queue();
    let delivered = s.delivered();
    assert_eq!(
        delivered.len(),
        before + 1,
        "exactly one message delivered by the first run\n{}",
        s.context(&run)
    );
    delivered_case(&delivered, &case);
    for old in 1..=3 {
        let tag = format!("\nX-Case: {tool}-old-{old}\n");
        let again = delivered
            .iter()
            .filter(|m| super::contains(m, tag.as_bytes()))
            .count();
        assert!(again <= 1, "{tool}-old-{old} delivered twice");
    }
    // A second run has nothing to do.
    let run = s.run(&config);
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    s.wait_queue();
    assert_eq!(s.delivered().len(), before + 1, "{}", s.context(&run));
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn i16_fetchmail_keep_then_import_delivers_only_new_mail() {
    have("fetchmail");
    let s = Servers::start("i16_fetchmail_keep_then_import_delivers_only_new_mail");
    put_three(&s, "fetchmail");
    let rc = s.dir.join("fetchmailrc");
    write_rc(
        &rc,
        &format!(
            "# the rc that ran\npoll localhost proto pop3 port {port} uidl\n\
             \x20 user \"{user}\" password \"{pass}\" is {target} here\n\
             \x20 sslproto tls1.2+ sslcertck sslcertfile \"{ca}\"\n\
             \x20 smtphost 127.0.0.1/{smtp}\n\
             \x20 keep\n",
            port = s.get("POP3_PORT"),
            user = s.get("POP_USER"),
            pass = s.get("POP_PASS"),
            target = s.get("TARGET"),
            ca = s.get("CA_FILE"),
            smtp = s.get("SMTP_PORT"),
        ),
        0o600,
    );
    let ids = s.dir.join("fetchids");
    run_ok(
        Command::new("fetchmail")
            .arg("-f")
            .arg(&rc)
            .arg("-i")
            .arg(&ids)
            .args(["--nosyslog", "-N"])
            .env("FETCHMAILHOME", &s.dir),
        "fetchmail",
    );
    s.wait_queue();
    assert_eq!(
        s.delivered().len(),
        3,
        "fetchmail delivered the three old messages"
    );
    assert_eq!(s.dovecot_left(), 3, "keep: they stay on the server");
    let ids_text = fs::read_to_string(&ids).expect("fetchmail wrote its .fetchids");
    assert_eq!(ids_text.lines().count(), 3, "{ids_text}");
    switch_over(&s, "fetchmailrc", &rc, "fetchmail", &ids, "localhost");
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn i16_getmail_keep_then_import_delivers_only_new_mail() {
    have("getmail");
    let s = Servers::start("i16_getmail_keep_then_import_delivers_only_new_mail");
    put_three(&s, "getmail");
    let maildir = user_maildir(&s, "getmail-maildir");
    let getmaildir = s.dir.join("getmail");
    fs::create_dir_all(&getmaildir).expect("getmaildir");
    chown_mail_user(&s, &getmaildir);
    let rc = s.dir.join("getmailrc");
    write_rc(
        &rc,
        &format!(
            "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = localhost\nport = {port}\nusername = {user}\n\
             password = {pass}\nca_certs = {ca}\n\n[destination]\ntype = Maildir\npath = {md}/\n\n\
             [options]\nread_all = false\ndelete = false\n",
            port = s.get("POP3S_PORT"),
            user = s.get("POP_USER"),
            pass = s.get("POP_PASS"),
            ca = s.get("CA_FILE"),
            md = maildir.display(),
        ),
        0o644,
    );
    run_ok(
        Command::new("runuser")
            .args(["-u", "nobody", "--", "getmail", "--getmaildir"])
            .arg(&getmaildir)
            .arg("-r")
            .arg(&rc),
        "getmail",
    );
    assert_eq!(
        maildir_messages(&maildir).len(),
        3,
        "getmail fetched the three"
    );
    let oldmail = getmaildir.join(format!("oldmail-localhost-{}-joe", s.get("POP3S_PORT")));
    assert!(oldmail.exists(), "getmail wrote {}", oldmail.display());
    switch_over(&s, "getmailrc", &rc, "getmail", &oldmail, "localhost-joe");
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn i16_mpop_keep_then_import_delivers_only_new_mail() {
    have("mpop");
    let s = Servers::start("i16_mpop_keep_then_import_delivers_only_new_mail");
    put_three(&s, "mpop");
    let maildir = user_maildir(&s, "mpop-maildir");
    // mpop replaces its uidls file through a temporary file beside it: a directory of the mail user's.
    let home = s.dir.join("mpop");
    fs::create_dir_all(&home).expect("mpop dir");
    chown_mail_user(&s, &home);
    let uidls = home.join("uidls");
    let rc = s.dir.join("mpoprc");
    write_rc(
        &rc,
        &format!(
            "defaults\ntls on\ntls_trust_file {ca}\n\naccount interop\nhost localhost\nport {port}\nuser {user}\n\
             password {pass}\nkeep on\ndelivery maildir {md}\nuidls_file {uidls}\n",
            port = s.get("POP3_PORT"),
            user = s.get("POP_USER"),
            pass = s.get("POP_PASS"),
            ca = s.get("CA_FILE"),
            md = maildir.display(),
            uidls = uidls.display(),
        ),
        0o600,
    );
    // mpop wants its rc owned by the user running it.
    chown_mail_user(&s, &rc);
    fs::write(&uidls, "").expect("create uidls");
    chown_mail_user(&s, &uidls);
    run_ok(
        Command::new("runuser")
            .args(["-u", "nobody", "--", "mpop", "-C"])
            .arg(&rc)
            .arg("interop"),
        "mpop",
    );
    assert_eq!(
        maildir_messages(&maildir).len(),
        3,
        "mpop fetched the three"
    );
    switch_over(&s, "mpoprc", &rc, "mpop", &uidls, "interop");
}
