//! The TLS keys of an `[[account]]` table: `tls`, `port` (its default follows the mode), `ca_file`,
//! `cert_sha256`, and the `allow_plaintext_password` opt-out that `tls = "none"` requires.

use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::Checker;
use crate::config::TlsMode;
use crate::config::raw::RawAccount;

/// How the account's POP3 connection is secured.
pub(super) struct Transport {
    pub tls: TlsMode,
    pub port: u16,
    pub ca_file: Option<PathBuf>,
    pub cert_sha256: Option<[u8; 32]>,
}

/// `tls`, `port`, `ca_file`, `cert_sha256`, and the conflicts among them.
pub(super) fn transport(r: &RawAccount, c: &mut Checker<'_>) -> Transport {
    let tls = c.choice(
        &r.tls,
        "tls",
        &[
            ("implicit", TlsMode::Implicit),
            ("stls", TlsMode::Stls),
            ("none", TlsMode::None),
        ],
        TlsMode::Implicit,
    );
    let port = c.port(
        &r.port,
        "port",
        if tls == TlsMode::Implicit { 995 } else { 110 },
    );
    let ca_file = r.ca_file.as_ref().map(|p| c.path(p, "ca_file"));
    let cert_sha256 = c.pin(&r.cert_sha256, "cert_sha256");
    for (key, span) in [
        ("ca_file", r.ca_file.as_ref().map(Spanned::span)),
        ("cert_sha256", r.cert_sha256.as_ref().map(Spanned::span)),
    ] {
        if let (Some(span), TlsMode::None) = (span, tls) {
            c.err(
                span,
                key,
                "has no effect with tls = \"none\"; remove it or enable TLS",
            );
        }
    }
    if let (Some(_), Some(pin)) = (&r.ca_file, &r.cert_sha256) {
        c.err(
            pin.span(),
            "cert_sha256",
            "set either ca_file or cert_sha256, not both",
        );
    }
    Transport {
        tls,
        port,
        ca_file,
        cert_sha256,
    }
}

/// `allow_plaintext_password`, checked against the TLS mode.
pub(super) fn allow_plaintext_password(
    r: &RawAccount,
    tls: TlsMode,
    whole: &Range<usize>,
    c: &mut Checker<'_>,
) -> bool {
    // Design: no password over an unencrypted link unless the config says so in words. APOP is included: its
    // MD5 digest of a known challenge is open to offline guessing.
    let allow_plaintext_password = r
        .allow_plaintext_password
        .as_ref()
        .is_some_and(|b| *b.get_ref());
    match (&r.allow_plaintext_password, tls) {
        (_, TlsMode::None) if !allow_plaintext_password => {
            let span = r.tls.as_ref().map_or(whole.clone(), Spanned::span);
            c.err(
                span,
                "tls",
                "\"none\" would send the password unencrypted; add `allow_plaintext_password = true` to this \
                 account if that is really wanted, or use tls = \"implicit\" or \"stls\"",
            );
        }
        (Some(b), TlsMode::Implicit | TlsMode::Stls) if *b.get_ref() => c.err(
            b.span(),
            "allow_plaintext_password",
            "has no effect unless tls = \"none\"; remove it",
        ),
        _ => {}
    }
    allow_plaintext_password
}
