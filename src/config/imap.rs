//! Validation of `[account.imap]` (issue 14): the IMAP server a `delivery = "imap"` account APPENDs its messages
//! to. Its TLS settings and password keys mean what the account's own mean for POP3; there is no plaintext mode
//! (an IMAP login always goes over TLS).

use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::PasswordSource;
use super::raw::RawImap;
use super::validate::{Checker, PasswordKeys, password_source};

/// The longest `user` sent in LOGIN or AUTHENTICATE PLAIN.
const MAX_USER_LEN: usize = 255;

/// How the IMAP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapTls {
    /// TLS from the first byte (RFC 8314; port 993).
    Implicit,
    /// `STARTTLS` on a plain connection (RFC 9051 §6.2.1; port 143).
    Starttls,
}

/// `[account.imap]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imap {
    pub host: String,
    /// Default 993 for implicit TLS, 143 for STARTTLS.
    pub port: u16,
    pub tls: ImapTls,
    /// CA certificates trusted instead of the system roots, as the account's `ca_file`.
    pub ca_file: Option<PathBuf>,
    /// SHA-256 pin of the server's certificate, as the account's `cert_sha256`.
    pub cert_sha256: Option<[u8; 32]>,
    pub user: String,
    pub password: PasswordSource,
    /// The mailbox name (default `INBOX`); printable ASCII, sent as a quoted string with `&` as `&-` (RFC 3501
    /// §5.1.3). It is never created: a missing folder is a configuration error.
    pub folder: String,
    /// System flags (`\Seen`) and keywords set on each appended message; default none (unread).
    pub flags: Vec<String>,
}

/// `[account.imap]` for `delivery = "imap"`; `whole` locates the account (for a missing table).
pub(crate) fn check(
    t: Option<&Spanned<RawImap>>,
    whole: &Range<usize>,
    c: &mut Checker<'_>,
) -> Option<Imap> {
    let Some(t) = t else {
        c.err(
            whole.clone(),
            "imap",
            "missing: delivery = \"imap\" needs an [account.imap] table with host, user and a password",
        );
        return None;
    };
    let (span, r) = (t.span(), t.get_ref());
    let before = c.issues.len();
    let host = c
        .required(&r.host, &span, "imap.host")
        .map(|h| c.host(h, "imap.host"));
    let tls = c.choice(
        &r.tls,
        "imap.tls",
        &[
            ("implicit", ImapTls::Implicit),
            ("starttls", ImapTls::Starttls),
        ],
        ImapTls::Implicit,
    );
    let port = c.port(
        &r.port,
        "imap.port",
        if tls == ImapTls::Implicit { 993 } else { 143 },
    );
    let ca_file = r.ca_file.as_ref().map(|p| c.path(p, "imap.ca_file"));
    let cert_sha256 = c.pin(&r.cert_sha256, "imap.cert_sha256");
    if let (Some(_), Some(pin)) = (&r.ca_file, &r.cert_sha256) {
        c.err(
            pin.span(),
            "imap.cert_sha256",
            "set either ca_file or cert_sha256, not both",
        );
    }
    let user = c.required(&r.user, &span, "imap.user").map(|u| {
        c.no_line_breaks(u, "imap.user");
        if u.get_ref().is_empty() || u.get_ref().len() > MAX_USER_LEN {
            c.err(
                u.span(),
                "imap.user",
                format!("must be 1 to {MAX_USER_LEN} bytes long"),
            );
        }
        u.get_ref().clone()
    });
    let password = password_source(
        PasswordKeys {
            prefix: "imap.",
            password: &r.password,
            file: &r.password_file,
            command: &r.password_command,
        },
        &span,
        c,
    );
    let folder = match &r.folder {
        None => "INBOX".to_owned(),
        Some(f) => {
            if let Err(why) = folder_ok(f.get_ref()) {
                c.err(f.span(), "imap.folder", why);
            }
            f.get_ref().clone()
        }
    };
    let mut flags = Vec::new();
    for f in r.flags.iter().flat_map(|l| l.get_ref()) {
        if let Err(why) = flag_ok(f.get_ref()) {
            c.err(f.span(), "imap.flags", format!("{:?}: {why}", f.get_ref()));
        }
        flags.push(f.get_ref().clone());
    }
    if c.issues.len() > before {
        return None;
    }
    Some(Imap {
        host: host?,
        port,
        tls,
        ca_file,
        cert_sha256,
        user: user?,
        password: password?,
        folder,
        flags,
    })
}

/// A folder name popfetch can send as a quoted string: printable ASCII (non-ASCII names need modified UTF-7,
/// RFC 3501 §5.1.3, which popfetch does not write).
fn folder_ok(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if !name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err("must be printable ASCII (a non-ASCII folder name is not supported)");
    }
    Ok(())
}

/// A flag for APPEND: a system flag `\Seen` `\Answered` `\Flagged` `\Deleted` `\Draft` (`\Recent` cannot be set,
/// RFC 3501 §2.3.2) or a keyword atom.
fn flag_ok(flag: &str) -> Result<(), &'static str> {
    const SYSTEM: [&str; 5] = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];
    if let Some(name) = flag.strip_prefix('\\') {
        return if SYSTEM.iter().any(|s| s[1..].eq_ignore_ascii_case(name)) {
            Ok(())
        } else {
            Err(
                "not a system flag popfetch can set (\\Seen, \\Answered, \\Flagged, \\Deleted, \\Draft)",
            )
        };
    }
    // atom-char: any CHAR except atom-specials ( ) { SP CTL % * " \ ] (RFC 3501 §9).
    let atom = !flag.is_empty()
        && flag
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && !b"(){%*\"\\]".contains(&b));
    if atom {
        Ok(())
    } else {
        Err(
            "a keyword must be an IMAP atom (ASCII letters, digits and most punctuation, no spaces)",
        )
    }
}
