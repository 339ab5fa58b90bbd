//! Test support shared by popfetch's integration tests (`mod support;`): in-process fake POP3 and SMTP servers that
//! speak real protocol bytes on 127.0.0.1 and record exactly what the client sent, a throw-away PKI, and helpers to
//! write a config and run the `popfetch` binary against the fakes.
//!
//! - [`pop3`]: `FakePop3` (one persistent maildrop; RFC 1939 UPDATE semantics; STLS/implicit TLS; faults).
//! - [`smtp`]: `FakeSmtp` (the local MTA stand-in; records transactions and invariant-6 violations).
//! - [`pki`]: `TestPki` (test CA, server certs for chosen names, bad certs).
//! - [`run`]: `ConfigBuilder`, `run_popfetch`, `spawn_popfetch`.
//!
//! Everything is std threads and blocking sockets: tests need no tokio runtime. The fakes are exercised on their
//! own by `tests/support_selftest.rs`.
#![allow(dead_code, unused_imports)]

pub mod bearer;
pub mod crash;
pub mod imap;
pub mod large;
pub mod oauth;
pub mod oauth_rig;
pub mod pki;
pub mod pop3;
mod pop3_content;
mod pop3_session;
mod record;
pub mod run;
pub mod smtp;
mod smtp_session;
pub mod wire;
pub mod world;

use std::time::{Duration, Instant};

use base64::Engine;

pub use pki::{TestPki, Validity};
pub use pop3::{FakePop3, Msg, Pop3Behavior, Pop3Tls, Scripted, Session};
pub use run::{
    AccountCfg, ConfigBuilder, Output, TestConfig, popfetch_bin, run_popfetch, spawn_popfetch,
};
pub use smtp::{Delivered, FakeSmtp, SmtpBehavior};

/// Poll `f` every 5 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The forms in which `secret` could leak: itself, its base64, and the base64 of SASL PLAIN payloads carrying it.
pub fn secret_forms(user: &str, secret: &str) -> Vec<Vec<u8>> {
    let b64 = |b: &[u8]| {
        base64::engine::general_purpose::STANDARD
            .encode(b)
            .into_bytes()
    };
    vec![
        secret.as_bytes().to_vec(),
        b64(secret.as_bytes()),
        b64(format!("\0{user}\0{secret}").as_bytes()),
        b64(format!("{user}\0{user}\0{secret}").as_bytes()),
    ]
}

/// Panic (naming `what`, never the secret) if `haystack` contains `secret` in any form of [`secret_forms`].
pub fn assert_no_secret(what: &str, haystack: &[u8], user: &str, secret: &str) {
    for (i, form) in secret_forms(user, secret).iter().enumerate() {
        let found = !form.is_empty() && haystack.windows(form.len()).any(|w| w == form.as_slice());
        assert!(
            !found,
            "{what} contains the secret (form #{i} of secret_forms)"
        );
    }
}

/// Position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
