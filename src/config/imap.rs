//! Validation of `[account.imap]` (issue 14): the IMAP server a `delivery = "imap"` account APPENDs its messages
//! to. Its TLS settings and password keys mean what the account's own mean for POP3; there is no plaintext mode
//! (an IMAP login always goes over TLS). `auth = "xoauth2" | "oauthbearer"` logs in with a bearer token instead,
//! from an `[account.imap.oauth2]` table of its own (the keys of `[account.oauth2]`): the IMAP side is often another
//! provider than the POP3 side (an ISP's POP3 into Gmail).

use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::PasswordSource;
use super::Settings;
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
    /// How popfetch logs in: a password, or a bearer token.
    pub login: ImapLogin,
    /// The mailbox name (default `INBOX`); printable ASCII, sent as a quoted string with `&` as `&-` (RFC 3501
    /// §5.1.3). It is never created: a missing folder is a configuration error.
    pub folder: String,
    /// System flags (`\Seen`) and keywords set on each appended message; default none (unread).
    pub flags: Vec<String>,
}

/// How the IMAP destination authenticates (`auth` in `[account.imap]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapLogin {
    /// `auth = "auto"` (the default): AUTHENTICATE PLAIN when offered, else LOGIN, with this password.
    Password(PasswordSource),
    /// `auth = "xoauth2"` or `"oauthbearer"`: SASL with an access token from `[account.imap.oauth2]`, kept in
    /// its own token file (`popfetch auth ACCOUNT --imap`).
    Bearer { mechanism: Bearer, oauth2: Settings },
}

/// The SASL bearer-token mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer {
    /// Google's and Microsoft's XOAUTH2.
    XOAuth2,
    /// RFC 7628 OAUTHBEARER.
    OAuthBearer,
}

impl Bearer {
    /// The SASL mechanism name, as in `AUTH=` capabilities and AUTHENTICATE.
    pub fn sasl_name(self) -> &'static str {
        match self {
            Bearer::XOAuth2 => "XOAUTH2",
            Bearer::OAuthBearer => "OAUTHBEARER",
        }
    }
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
    let user = c
        .required(&r.user, &span, "imap.user")
        .map(|u| c.user(u, "imap.user", MAX_USER_LEN));
    let login = login(r, &span, c);
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
        login: login?,
        folder,
        flags,
    })
}

/// `auth` with the password keys or the `[account.imap.oauth2]` table it needs, and without the other.
fn login(r: &RawImap, span: &Range<usize>, c: &mut Checker<'_>) -> Option<ImapLogin> {
    let mechanism = c.choice(
        &r.auth,
        "imap.auth",
        &[
            ("auto", None),
            ("xoauth2", Some(Bearer::XOAuth2)),
            ("oauthbearer", Some(Bearer::OAuthBearer)),
        ],
        None,
    );
    let Some(mechanism) = mechanism else {
        if let Some(t) = &r.oauth2 {
            c.err(
                t.span(),
                "imap.oauth2",
                "is only used with imap.auth = \"xoauth2\" or \"oauthbearer\"; remove it or set auth",
            );
        }
        let keys = PasswordKeys {
            prefix: "imap.",
            password: &r.password,
            file: &r.password_file,
            command: &r.password_command,
        };
        return password_source(keys, span, c).map(ImapLogin::Password);
    };
    let password_keys = [
        ("imap.password", r.password.as_ref().map(Spanned::span)),
        (
            "imap.password_file",
            r.password_file.as_ref().map(Spanned::span),
        ),
        (
            "imap.password_command",
            r.password_command.as_ref().map(Spanned::span),
        ),
    ];
    for (key, at) in password_keys {
        if let Some(at) = at {
            c.err(
                at,
                key,
                "is not used with an oauth2 login (the token comes from `popfetch auth ACCOUNT --imap`); remove it",
            );
        }
    }
    let Some(t) = &r.oauth2 else {
        c.err(
            span.clone(),
            "imap.oauth2",
            "missing: imap.auth = \"xoauth2\" or \"oauthbearer\" needs an [account.imap.oauth2] table",
        );
        return None;
    };
    let oauth2 = super::oauth::settings(t.get_ref(), &t.span(), "imap.", c)?;
    Some(ImapLogin::Bearer { mechanism, oauth2 })
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
