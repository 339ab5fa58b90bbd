//! The authorization code flow's pure parts: PKCE (RFC 7636 §4.1–4.2, S256), the `state` value, the
//! authorization request URL (RFC 6749 §4.1.1) and reading the redirect the browser was sent to (§4.1.2), whether
//! it reached the loopback listener or was pasted back by the user.

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use super::{OAuthError, Settings};
use crate::secret::Secret;
use crate::untrusted::{self, Secrets};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A PKCE pair: the verifier stays here, the challenge goes into the URL.
pub struct Pkce {
    pub verifier: Secret,
    pub challenge: String,
}

/// 32 random bytes, base64url: 43 characters, within RFC 7636 §4.1's 43..128 of unreserved characters.
fn random_token() -> Result<String, OAuthError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| OAuthError::Flow {
            what: "no randomness available from the system".into(),
        })?;
    Ok(B64URL.encode(bytes))
}

impl Pkce {
    /// A fresh verifier and its S256 challenge.
    ///
    /// # Errors
    /// [`OAuthError::Flow`] when the system has no randomness to give.
    pub fn new() -> Result<Pkce, OAuthError> {
        let verifier = random_token()?;
        Ok(Pkce {
            challenge: challenge(&verifier),
            verifier: Secret::new(verifier),
        })
    }
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
pub fn challenge(verifier: &str) -> String {
    B64URL.encode(Sha256::digest(verifier.as_bytes()))
}

/// A fresh `state` value that binds the redirect to this run (RFC 6749 §10.12).
///
/// # Errors
/// As [`Pkce::new`].
pub fn new_state() -> Result<String, OAuthError> {
    random_token()
}

/// The URL the user opens. `login_hint` (the account's user) spares choosing among signed-in accounts.
///
/// # Errors
/// [`OAuthError::Flow`] when the settings have no authorization endpoint.
pub fn authorization_url(
    s: &Settings,
    redirect_uri: &str,
    challenge: &str,
    state: &str,
    login_hint: &str,
) -> Result<String, OAuthError> {
    let base = s
        .authorization_url
        .as_deref()
        .ok_or_else(|| OAuthError::Flow {
            what: "no authorization_url is configured".into(),
        })?;
    let mut url = reqwest::Url::parse(base).map_err(|_| OAuthError::Flow {
        what: "authorization_url is not a valid URL".into(),
    })?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &s.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &s.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("login_hint", login_hint);
        for (k, v) in &s.authorization_params {
            q.append_pair(k, v);
        }
    }
    Ok(url.into())
}

/// The authorization code from a redirect: a full URL (`http://127.0.0.1:PORT/?code=…&state=…`, as pasted from
/// the browser's address bar) or a request target (`/?code=…`). The `state` must match; an `error` parameter is
/// the provider's refusal (RFC 6749 §4.1.2.1).
///
/// # Errors
/// [`OAuthError::Flow`]: wrong state, an error from the provider, or no code.
pub fn parse_redirect(input: &str, expected_state: &str) -> Result<Secret, OAuthError> {
    let input = input.trim();
    let url = reqwest::Url::parse(input)
        .or_else(|_| reqwest::Url::parse("http://127.0.0.1").and_then(|b| b.join(input)))
        .map_err(|_| flow("that is not the URL the browser was sent to"))?;
    let (mut code, mut state, mut error, mut desc) = (None, None, None, None);
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => desc = Some(v.into_owned()),
            _ => {}
        }
    }
    if state.as_deref() != Some(expected_state) {
        return Err(flow(
            "the redirect's state does not match this run (an old or foreign URL)",
        ));
    }
    if let Some(e) = error {
        // A URL the user pasted: it carries no secret of ours, but the provider's words are escaped all the same.
        let show = |s: &str| Secrets::none().show(s.as_bytes(), untrusted::REPLY);
        let e = show(&e);
        return Err(flow(&match desc {
            Some(d) => format!("the provider refused: {e}: {}", show(&d)),
            None => format!("the provider refused: {e}"),
        }));
    }
    code.filter(|c| !c.is_empty())
        .map(Secret::new)
        .ok_or_else(|| flow("the redirect carries no code"))
}

fn flow(what: &str) -> OAuthError {
    OAuthError::Flow {
        what: what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_challenge() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let p = Pkce::new().unwrap();
        assert_eq!(p.verifier.expose().len(), 43);
        assert_eq!(challenge(p.verifier.expose()), p.challenge);
        assert_ne!(new_state().unwrap(), new_state().unwrap());
    }

    #[test]
    fn redirects() {
        let code =
            parse_redirect("http://127.0.0.1:4711/?code=abc%2F1&state=S1&scope=x", "S1").unwrap();
        assert_eq!(code.expose(), "abc/1");
        assert_eq!(
            parse_redirect("  /?state=S1&code=c \n", "S1")
                .unwrap()
                .expose(),
            "c"
        );
        for (input, want) in [
            ("/?code=c&state=S2", "state"),
            ("/?code=c", "state"),
            ("/?state=S1", "no code"),
            (
                "/?state=S1&error=access_denied&error_description=User%20said%20no%1b",
                "access_denied: User said no\\x1b",
            ),
        ] {
            let e = parse_redirect(input, "S1").unwrap_err().to_string();
            assert!(e.contains(want), "{input}: {e}");
        }
    }
}
