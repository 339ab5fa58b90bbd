//! [`Secrets`]: what one account must never see printed, and the scrubbing that keeps it out of server text.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;

use super::escape::{Shown, escape};
use crate::secret::Secret;

/// What replaces a secret in shown text; the same word [`Secret`]'s `Display` prints.
pub const MARKER: &str = "[redacted]";

/// The secrets of one account's poll: the password (from any source), the AUTH payloads popfetch sends (APOP
/// digest, SASL PLAIN/XOAUTH2/OAUTHBEARER responses) and OAuth tokens, each also in the forms a server could echo
/// back (base64, hex). Cloning shares the set: the POP3 client adds the payloads it computes during login, and the
/// SMTP side, the trace and the poller's error line see them (design invariant 5, catalog T-20).
///
/// [`Secrets::show`] is the only way to turn server bytes into [`Shown`] text: it scrubs the whole text first,
/// then escapes and cuts it, so a secret cut in half by the bound cannot leak its first half.
#[derive(Clone, Default)]
pub struct Secrets(Arc<RwLock<Vec<Vec<u8>>>>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} forms {MARKER})", self.read().len())
    }
}

impl Secrets {
    /// An empty set, to be filled as the account's credentials become known.
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// For text shown where no account's secret exists (an offline `popfetch filter`, a certificate before any
    /// credential was sent). Greppable, so each such place can be checked.
    pub fn none() -> Secrets {
        Secrets::default()
    }

    /// Scrub `secret` from now on: its bytes; its base64 (AUTH LOGIN-style echoes), and the part of its base64 that
    /// does not depend on what comes before or after it when it sits at any offset inside a longer base64 text
    /// (an AUTH PLAIN or XOAUTH2 payload echoed back); its hex (both cases; an APOP digest is hex already, so a
    /// hex secret is matched in either case too).
    pub fn add(&self, secret: &Secret) {
        self.add_bytes(secret.expose().as_bytes());
    }

    pub fn add_bytes(&self, raw: &[u8]) {
        if raw.is_empty() {
            return;
        }
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let mut all = vec![raw.to_vec()];
        if raw.iter().all(u8::is_ascii_hexdigit) {
            all.push(raw.to_ascii_uppercase());
            all.push(raw.to_ascii_lowercase());
        }
        all.extend(base64_forms(raw));
        all.push(hex.to_ascii_uppercase().into_bytes());
        all.push(hex.into_bytes());
        let mut forms = self.0.write().unwrap_or_else(PoisonError::into_inner);
        for form in all {
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
        // Longest first: where two forms start at the same byte, the longer one is replaced whole.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    /// True when nothing is scrubbed (no credential known yet).
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Server bytes as text for a person or a file: every secret replaced by [`MARKER`], then escaped by the one
    /// policy (`untrusted` module docs) and cut after `max` characters.
    pub fn show(&self, raw: &[u8], max: usize) -> Shown {
        self.show_cut(raw, max, 0)
    }

    /// [`Secrets::show`] for the first part of a longer text whose last `more` bytes the caller did not keep.
    pub fn show_cut(&self, raw: &[u8], max: usize, more: usize) -> Shown {
        Shown::new(escape(&self.scrub(raw), max, more))
    }

    /// `raw` with each secret replaced by [`MARKER`].
    fn scrub<'a>(&self, raw: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let forms = self.read();
        if forms.is_empty() {
            return raw.into();
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        let mut copied = 0;
        while i < raw.len() {
            match forms.iter().find(|f| raw[i..].starts_with(f)) {
                Some(f) => {
                    out.extend_from_slice(&raw[copied..i]);
                    out.extend_from_slice(MARKER.as_bytes());
                    i += f.len();
                    copied = i;
                }
                None => i += 1,
            }
        }
        if copied == 0 {
            return raw.into();
        }
        out.extend_from_slice(&raw[copied..]);
        out.into()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Vec<u8>>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Fewer base64 characters than this, in an offset form, would match too much text by chance; such forms are not
/// scrubbed (a secret of 1 to 3 bytes).
const MIN_CORE: usize = 4;

/// `raw`'s base64 as sent alone (unpadded, so a padded echo matches too), and for `raw` at an offset of 0, 1 or 2
/// bytes inside a longer text: the characters that encode only bits of `raw` (RFC 4648 §4: each character is 6
/// bits of the stream; with `k` bytes before `raw`, character `i` depends on `raw` alone when
/// `8k <= 6i` and `6i + 6 <= 8k + 8n`).
fn base64_forms(raw: &[u8]) -> Vec<Vec<u8>> {
    let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut out = vec![engine.encode(raw).into_bytes()];
    let bits = 8 * raw.len();
    for k in 0..=2usize {
        let mut shifted = vec![0; k];
        shifted.extend_from_slice(raw);
        let text = engine.encode(&shifted).into_bytes();
        let first = (8 * k).div_ceil(6);
        let end = (8 * k + bits) / 6; // characters fully inside `raw`'s bits
        if end >= first + MIN_CORE {
            out.push(text[first..end].to_vec());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(s: &str) -> Secrets {
        let secrets = Secrets::new();
        secrets.add(&Secret::new(s));
        secrets
    }

    #[test]
    fn t20_secrets_and_their_base64_and_hex_forms_are_scrubbed() {
        let s = with("hunter2");
        assert_eq!(
            s.show(b"-ERR bad password hunter2 for hunter2", 200),
            "-ERR bad password [redacted] for [redacted]"
        );
        // base64("hunter2") = aHVudGVyMg==, hex = 68756e74657232.
        assert_eq!(s.show(b"+ aHVudGVyMg==", 200), "+ [redacted]==");
        assert_eq!(
            s.show(b"x 68756E74657232 68756e74657232", 200),
            "x [redacted] [redacted]"
        );
        // Inside a longer base64 text, at any offset: AUTH PLAIN's payload (\0alice\0hunter2) and AUTH LOGIN-like
        // framings. Only the characters that depend on the secret alone go; its neighbours may stay.
        for prefix in ["\0alice\0", "x", "xy", "xyz"] {
            let payload = base64::engine::general_purpose::STANDARD
                .encode(format!("{prefix}hunter2 trailing"));
            let shown = s.show(payload.as_bytes(), 200);
            assert!(shown.contains(MARKER), "{prefix:?}: {shown}");
        }
        // A hex secret (an APOP digest) in either case.
        s.add_bytes(b"9f0a");
        assert_eq!(s.show(b"9F0A 9f0a", 200), "[redacted] [redacted]");
        // Shared by clones: a payload added later is scrubbed everywhere.
        let clone = s.clone();
        clone.add_bytes(b"payload");
        assert_eq!(s.show(b"payload", 200), "[redacted]");
    }

    #[test]
    fn t20_scrubbing_comes_before_escaping_and_cutting() {
        // A secret with bytes that would be escaped is still found.
        let s = with("p\u{e4}ss\x1b");
        assert_eq!(
            s.show("x p\u{e4}ss\x1b y".as_bytes(), 200),
            "x [redacted] y"
        );
        // A secret across the cut does not leak its first half.
        let s = with("hunter2");
        let mut long = vec![b'a'; 197];
        long.extend_from_slice(b"hunter2");
        let shown = s.show(&long, 200);
        assert!(!shown.as_str().contains("hun"), "{shown}");
        assert!(shown.as_str().ends_with("[re[... 7 more bytes]"), "{shown}");
    }

    #[test]
    fn empty_secrets_are_ignored_and_longer_forms_win() {
        let s = with("");
        assert!(s.is_empty());
        assert_eq!(s.show(b"abc", 10), "abc");
        let s = with("ab");
        s.add_bytes(b"abc");
        assert_eq!(s.show(b"abcab", 30), "[redacted][redacted]");
        assert_eq!(format!("{s:?}"), "Secrets(8 forms [redacted])");
    }
}
