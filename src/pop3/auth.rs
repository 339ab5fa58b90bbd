//! Pure authentication helpers: which mechanism to use, the AUTH PLAIN payload (RFC 4616 inside RFC 5034) and the
//! APOP digest (RFC 1939 §7). The exchanges themselves are in [`super::client`].

use base64::Engine;
use md5::{Digest, Md5};

use super::Pop3Error;
use super::codec::Capabilities;
use crate::config::AuthMethod;

/// RFC 5034 §4 / RFC 2449 §4: an AUTH command line (CRLF included) must fit in 255 octets, else the initial
/// response goes in a continuation.
pub const MAX_AUTH_LINE: usize = 255;

/// The mechanism a login will use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// USER then PASS.
    UserPass,
    /// AUTH PLAIN.
    Plain,
    /// APOP.
    Apop,
    /// AUTH XOAUTH2 with a bearer token.
    XOAuth2,
    /// AUTH OAUTHBEARER (RFC 7628) with a bearer token.
    OAuthBearer,
}

impl Mechanism {
    /// The SASL name, for the mechanisms that have one.
    pub fn sasl_name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::UserPass | Mechanism::Apop => "",
        }
    }
}

/// Pick the mechanism. `Auto` takes AUTH PLAIN when the (post-TLS) CAPA lists it in SASL, else USER/PASS; APOP is
/// never picked automatically. An explicit `Plain` is refused when CAPA listed SASL mechanisms without PLAIN
/// (T-16: no silent substitution).
///
/// # Errors
/// [`Pop3Error::AuthNotOffered`].
pub fn choose(method: AuthMethod, caps: &Capabilities) -> Result<Mechanism, Pop3Error> {
    let has_plain = caps.sasl.iter().any(|m| m == "PLAIN");
    // A server whose CAPA lists no SASL mechanisms may still accept AUTH (RFC 5034 §3 predates CAPA listings
    // on some servers); one that lists mechanisms without this one would refuse it.
    let offers = |name: &str| caps.sasl.is_empty() || caps.sasl.iter().any(|m| m == name);
    match method {
        AuthMethod::XOAuth2 if offers("XOAUTH2") => Ok(Mechanism::XOAuth2),
        AuthMethod::XOAuth2 => Err(Pop3Error::AuthNotOffered {
            mechanism: "sasl xoauth2",
        }),
        AuthMethod::OAuthBearer if offers("OAUTHBEARER") => Ok(Mechanism::OAuthBearer),
        AuthMethod::OAuthBearer => Err(Pop3Error::AuthNotOffered {
            mechanism: "sasl oauthbearer",
        }),
        AuthMethod::Auto if has_plain => Ok(Mechanism::Plain),
        AuthMethod::Auto | AuthMethod::User => Ok(Mechanism::UserPass),
        AuthMethod::Plain if has_plain || caps.sasl.is_empty() => Ok(Mechanism::Plain),
        AuthMethod::Plain => Err(Pop3Error::AuthNotOffered {
            mechanism: "sasl plain",
        }),
        AuthMethod::Apop => Ok(Mechanism::Apop),
    }
}

/// True when `s` can be put on a command line: no CR, LF or NUL (T-24: `PASS x\r\nDELE 1` must be impossible).
pub fn is_line_safe(s: &str) -> bool {
    !s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// The AUTH PLAIN response, base64 of `authzid NUL authcid NUL password` with an empty authzid (RFC 4616 §2).
pub fn plain_response(user: &str, password: &str) -> String {
    let mut raw = Vec::with_capacity(user.len() + password.len() + 2);
    raw.push(0);
    raw.extend_from_slice(user.as_bytes());
    raw.push(0);
    raw.extend_from_slice(password.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// True when `AUTH <mechanism> <response>` CRLF fits in [`MAX_AUTH_LINE`] octets.
pub fn initial_response_fits(mechanism: &str, response: &str) -> bool {
    "AUTH ".len() + mechanism.len() + 1 + response.len() + 2 <= MAX_AUTH_LINE
}

/// The APOP digest: lower-case hex MD5 of the timestamp (brackets included) followed by the password.
pub fn apop_digest(timestamp: &str, password: &str) -> String {
    let mut h = Md5::new();
    h.update(timestamp.as_bytes());
    h.update(password.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t19_apop_digest_matches_rfc1939_example() {
        // RFC 1939 §7's worked example.
        let d = apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf");
        assert_eq!(d, "c4c9334bac560ecc979e58001b3e22fb");
    }

    #[test]
    fn plain_response_layout() {
        assert_eq!(
            plain_response("tim", "tanstaaftanstaaf"),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
    }

    #[test]
    fn t17_initial_response_limit() {
        let fits = "a".repeat(MAX_AUTH_LINE - "AUTH PLAIN ".len() - 2);
        assert!(initial_response_fits("PLAIN", &fits));
        assert!(!initial_response_fits("PLAIN", &format!("{fits}a")));
        let fits = "a".repeat(MAX_AUTH_LINE - "AUTH XOAUTH2 ".len() - 2);
        assert!(initial_response_fits("XOAUTH2", &fits));
        assert!(!initial_response_fits("XOAUTH2", &format!("{fits}a")));
    }

    #[test]
    fn t24_line_safety() {
        assert!(is_line_safe(" spaces kept "));
        for bad in ["a\rb", "a\nDELE 1", "a\0"] {
            assert!(!is_line_safe(bad), "{bad:?}");
        }
    }

    #[test]
    fn t16_mechanism_choice_never_substitutes() {
        let mut caps = Capabilities::default();
        assert_eq!(
            choose(AuthMethod::Auto, &caps).unwrap(),
            Mechanism::UserPass
        );
        assert_eq!(choose(AuthMethod::Plain, &caps).unwrap(), Mechanism::Plain);
        assert_eq!(choose(AuthMethod::Apop, &caps).unwrap(), Mechanism::Apop);
        caps.sasl = vec!["SCRAM-SHA-256".into()];
        assert_eq!(
            choose(AuthMethod::Auto, &caps).unwrap(),
            Mechanism::UserPass
        );
        assert!(matches!(
            choose(AuthMethod::Plain, &caps),
            Err(Pop3Error::AuthNotOffered { .. })
        ));
        caps.sasl.push("PLAIN".into());
        assert_eq!(choose(AuthMethod::Auto, &caps).unwrap(), Mechanism::Plain);
        assert_eq!(
            choose(AuthMethod::User, &caps).unwrap(),
            Mechanism::UserPass
        );
        // Bearer mechanisms: tried when CAPA lists no SASL at all, refused when it lists others only.
        assert!(matches!(
            choose(AuthMethod::XOAuth2, &caps),
            Err(Pop3Error::AuthNotOffered {
                mechanism: "sasl xoauth2"
            })
        ));
        caps.sasl.push("XOAUTH2".into());
        assert_eq!(
            choose(AuthMethod::XOAuth2, &caps).unwrap(),
            Mechanism::XOAuth2
        );
        assert!(choose(AuthMethod::OAuthBearer, &caps).is_err());
        caps.sasl.push("OAUTHBEARER".into());
        assert_eq!(
            choose(AuthMethod::OAuthBearer, &caps).unwrap(),
            Mechanism::OAuthBearer
        );
        caps.sasl.clear();
        assert_eq!(
            choose(AuthMethod::OAuthBearer, &caps).unwrap(),
            Mechanism::OAuthBearer
        );
    }
}
