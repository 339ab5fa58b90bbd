//! Interop suite (issue 3): the built `popfetch` binary against a real Dovecot POP3 server and a real Postfix,
//! both private instances on 127.0.0.1 started per test by `tests/interop/servers.sh` under a temporary
//! directory. Each test asserts what Postfix's local(8) delivered to the target's Maildir, what bounced to the
//! envelope sender's Maildir, and what is left in Dovecot's Maildir.
//!
//! The tests are `#[ignore]`d so a plain `cargo test` stays fast and needs no servers; run them with
//! `tests/interop/run.sh` (installs the packages, then `cargo test --test interop -- --ignored`). Without
//! Dovecot or Postfix installed they fail, naming the fix: an interop test never reports `ok` without having run.
//!
//! What Postfix does to a message on top of popfetch's edits (so the tests can compare bytes): smtpd prepends
//! its `Received`, local(8) prepends `Return-Path`, `X-Original-To` and `Delivered-To` and writes the Maildir
//! file with LF line endings. The suite's Postfix is configured not to rewrite or add any other header
//! (`local_header_rewrite_clients =`, `always_add_missing_headers = no`); `message_drop_headers` (the default)
//! would drop a `Return-Path` the message carries, so the byte-compared messages carry none.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const IGNORE_WHY: &str = "needs dovecot and postfix: run tests/interop/run.sh";

#[path = "interop/harness.rs"]
mod harness;
#[path = "interop/mail.rs"]
mod mail;

use content::content_messages;
use harness::{Run, Servers, Tls};
use mail::{
    assert_same_bytes, contains, delivered_case, field_named, maildir_messages, next_field, simple,
    strip_added, tail, to_lf,
};

// Dovecot and Postfix (issue 3), by subject.
#[path = "interop/content.rs"]
mod content;
#[path = "interop/keep.rs"]
mod keep;
#[path = "interop/multidrop.rs"]
mod multidrop;
#[path = "interop/postfix.rs"]
mod postfix;
#[path = "interop/seed.rs"]
mod seed;
#[path = "interop/tls.rs"]
mod tls;

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
