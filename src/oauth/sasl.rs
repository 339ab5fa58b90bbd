//! SASL payloads for bearer tokens, before base64: XOAUTH2 (Google's and Microsoft's mechanism) and OAUTHBEARER
//! (RFC 7628 §3.1), and the JSON error challenge a server sends when it refuses the token (RFC 7628 §3.2.2).
//! Pure functions; the protocol exchanges are in the mail protocol modules.

use base64::Engine;
use serde_json::Value;

use crate::secret::Secret;
use crate::untrusted::{self, Secrets};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The client's answer to an error challenge. RFC 7628 §3.2.3: OAUTHBEARER answers with a single %x01; XOAUTH2
/// (Google's definition) with an empty response. Either way the server then fails the exchange.
pub fn error_ack(oauthbearer: bool) -> &'static str {
    if oauthbearer { "AQ==" } else { "" }
}

/// `base64("user=" user ^A "auth=Bearer " token ^A ^A)`.
pub fn xoauth2(user: &str, token: &Secret) -> Secret {
    let raw = format!("user={user}\x01auth=Bearer {}\x01\x01", token.expose());
    Secret::new(B64.encode(raw))
}

/// `base64("n,a=" saslname ",^Ahost=" host "^Aport=" port "^Aauth=Bearer " token "^A^A")` (RFC 7628 §3.1; the
/// authzid is the user, with `,` and `=` escaped as RFC 5801 §4 saslname demands).
pub fn oauthbearer(user: &str, host: &str, port: u16, token: &Secret) -> Secret {
    let name = user.replace('=', "=3D").replace(',', "=2C");
    let raw = format!(
        "n,a={name},\x01host={host}\x01port={port}\x01auth=Bearer {}\x01\x01",
        token.expose()
    );
    Secret::new(B64.encode(raw))
}

/// What a server said when it refused a token: RFC 7628 §3.2.2's `status` and `scope` (Google's XOAUTH2 sends
/// the same JSON shape), scrubbed, escaped and bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    pub status: Option<String>,
    pub scope: Option<String>,
}

impl std::fmt::Display for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {}",
            self.status.as_deref().unwrap_or("not given")
        )?;
        if let Some(s) = &self.scope {
            write!(f, ", scope {s}")?;
        }
        Ok(())
    }
}

/// Decode a server challenge (the base64 text after `+ `). `None` when it is not base64 of a JSON object: the
/// server is then not speaking the error-challenge convention and the caller cancels the exchange. The challenge
/// comes after the token was sent, so its text is scrubbed of `secrets` (an echoed token, catalog T-20).
pub fn parse_challenge(b64: &str, secrets: &Secrets) -> Option<Challenge> {
    let raw = B64.decode(b64.trim()).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    let field = |k: &str| {
        v.get(k).and_then(|x| match x {
            Value::String(s) => Some(secrets.show(s.as_bytes(), untrusted::REPLY).into()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    v.is_object().then(|| Challenge {
        status: field("status"),
        scope: field("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &Secret) -> String {
        String::from_utf8(B64.decode(s.expose()).unwrap()).unwrap()
    }

    #[test]
    fn xoauth2_layout_matches_googles_example() {
        // developers.google.com/gmail/imap/xoauth2-protocol: the example string before base64.
        let p = xoauth2(
            "someuser@example.com",
            &Secret::new("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
        );
        assert_eq!(
            decode(&p),
            "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
    }

    #[test]
    fn oauthbearer_layout_matches_rfc7628_example() {
        // RFC 7628 §4.1, with the port our caller passes.
        let p = oauthbearer(
            "user@example.com",
            "server.example.com",
            143,
            &Secret::new("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
        );
        assert_eq!(
            decode(&p),
            "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        let p = oauthbearer("a,b=c", "h", 995, &Secret::new("t"));
        assert!(decode(&p).starts_with("n,a=a=2Cb=3Dc,\x01"));
    }

    #[test]
    fn error_challenges() {
        // RFC 7628 §4.3's challenge.
        let c = parse_challenge(&B64.encode(
            r#"{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}"#,
        ),
            &Secrets::none(),
        )
        .unwrap();
        assert_eq!(c.status.as_deref(), Some("invalid_token"));
        assert_eq!(c.scope.as_deref(), Some("example_scope"));
        assert_eq!(c.to_string(), "status invalid_token, scope example_scope");
        // Google's XOAUTH2 shape.
        let c = parse_challenge(
            &B64.encode(
                r#"{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}"#,
            ),
            &Secrets::none(),
        )
        .unwrap();
        assert_eq!(c.status.as_deref(), Some("401"));
        assert_eq!(parse_challenge("not base64!", &Secrets::none()), None);
        assert_eq!(parse_challenge(&B64.encode("[1]"), &Secrets::none()), None);
        assert_eq!(error_ack(true), "AQ==");
        assert_eq!(B64.decode(error_ack(true)).unwrap(), b"\x01");
        assert_eq!(error_ack(false), "");
    }
}
