//! The one HTTP client popfetch uses (reqwest, HTTP/1.1, rustls on the ring provider with the same trust rules
//! as the POP3 link, `HTTPS_PROXY`/`NO_PROXY` from the environment) and the token endpoint exchange of RFC 6749:
//! a form POST answered by JSON (§5.1) or an error object (§5.2).
//!
//! Every request is bounded by the account's `timeout` (connect and whole exchange) and its answer by
//! [`MAX_BODY`]; redirects are not followed (an endpoint that redirects a POST carrying secrets is refused).

use std::time::Duration;

use serde_json::Value;

use super::{OAuthError, ProviderError};
use crate::secret::Secret;
use crate::tls;
use crate::untrusted::{self, Secrets};

/// Largest answer read from an endpoint.
pub const MAX_BODY: usize = 64 * 1024;

/// A successful token response (RFC 6749 §5.1). `Debug` shows no token (they are [`Secret`]s).
#[derive(Debug)]
pub struct TokenResponse {
    pub access_token: Secret,
    /// Lifetime in seconds, when the provider says.
    pub expires_in: Option<u64>,
    /// A new refresh token (first grant, or a rotation on refresh).
    pub refresh_token: Option<Secret>,
}

/// The HTTP client.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    timeout: Duration,
}

impl Http {
    /// A client whose every request is bounded by `timeout`.
    ///
    /// # Errors
    /// [`OAuthError::Tls`] when no trust anchor is available, [`OAuthError::Client`] otherwise.
    pub fn new(timeout: Duration) -> Result<Http, OAuthError> {
        let mut tls = tls::system_roots_config().map_err(OAuthError::Tls)?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("popfetch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(OAuthError::Client)?;
        Ok(Http { client, timeout })
    }

    /// POST `form` to `url` and read the JSON answer. `Ok(Ok(json))` for a 2xx, `Ok(Err(provider error))` for an
    /// RFC 6749 §5.2 error object (HTTP 400 or 401). `secrets` are scrubbed from any provider text kept.
    ///
    /// # Errors
    /// [`OAuthError::Unreachable`], [`OAuthError::Timeout`], [`OAuthError::Status`] (5xx, other statuses),
    /// [`OAuthError::BadResponse`] (not JSON, too large).
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        secrets: &[&Secret],
    ) -> Result<Result<Value, ProviderError>, OAuthError> {
        let fail = |e: reqwest::Error| self.transport(url, e);
        let mut resp = self
            .client
            .post(url)
            .header("Accept", "application/json")
            .form(form)
            .send()
            .await
            .map_err(fail)?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(fail)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(bad(url, "answer larger than 64 KiB"));
            }
            body.extend_from_slice(&chunk);
        }
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        match (status, json) {
            (200..=299, Some(v @ Value::Object(_))) => Ok(Ok(v)),
            (200..=299, _) => Err(bad(url, "not a json object")),
            (400 | 401, Some(v)) if v.get("error").and_then(Value::as_str).is_some() => {
                Ok(Err(provider_error(&v, secrets)))
            }
            (status, _) => Err(OAuthError::Status {
                url: url.to_owned(),
                status,
            }),
        }
    }

    fn transport(&self, url: &str, e: reqwest::Error) -> OAuthError {
        if e.is_timeout() {
            OAuthError::Timeout {
                url: url.to_owned(),
                secs: self.timeout.as_secs(),
            }
        } else if is_tls_refusal(&e) {
            OAuthError::TlsRefused {
                url: url.to_owned(),
                source: e.without_url(),
            }
        } else {
            // reqwest's message names the URL, which carries no secret: credentials go in the body.
            OAuthError::Unreachable {
                url: url.to_owned(),
                source: e.without_url(),
            }
        }
    }
}

/// True when a rustls error (a refused certificate, a TLS alert) is somewhere in the chain. hyper-rustls hands it
/// up inside an `io::Error`, whose `source()` skips the wrapped error itself, so each `io::Error` is opened too.
fn is_tls_refusal(e: &(dyn std::error::Error + 'static)) -> bool {
    use tokio_rustls::rustls;
    let mut cur = Some(e);
    while let Some(err) = cur {
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static));
        if err.is::<rustls::Error>()
            || inner.is_some_and(|i| i.is::<rustls::Error>() || is_tls_refusal(i))
        {
            return true;
        }
        cur = err.source();
    }
    false
}

fn bad(url: &str, what: &'static str) -> OAuthError {
    OAuthError::BadResponse {
        url: url.to_owned(),
        what,
    }
}

/// The `error` and `error_description` of an error object, escaped, bounded and scrubbed of `secrets`.
pub fn provider_error(v: &Value, secrets: &[&Secret]) -> ProviderError {
    let scrub = Secrets::new();
    for s in secrets {
        scrub.add(s);
    }
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(|s| scrub.show(s.as_bytes(), untrusted::REPLY).into())
    };
    ProviderError {
        error: field("error").unwrap_or_default(),
        description: field("error_description").filter(|d| !d.is_empty()),
    }
}

/// Read a token response (RFC 6749 §5.1). Only bearer tokens are usable for XOAUTH2 and OAUTHBEARER.
///
/// # Errors
/// [`OAuthError::BadResponse`] without a usable `access_token`, or with another `token_type`.
pub fn token_response(url: &str, v: &Value) -> Result<TokenResponse, OAuthError> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let access = text("access_token").ok_or_else(|| bad(url, "no access_token"))?;
    // Tokens go onto a SASL line inside base64, but a control character would still be a broken token.
    let usable = |s: &str| s.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if !usable(access) {
        return Err(bad(
            url,
            "access_token has characters outside printable ASCII",
        ));
    }
    if let Some(tt) = text("token_type")
        && !tt.eq_ignore_ascii_case("bearer")
    {
        return Err(bad(url, "token_type is not Bearer"));
    }
    let refresh = match text("refresh_token") {
        Some(r) if usable(r) => Some(Secret::new(r)),
        Some(_) => {
            return Err(bad(
                url,
                "refresh_token has characters outside printable ASCII",
            ));
        }
        None => None,
    };
    // expires_in is a number per RFC 6749; some providers send it as a string.
    let expires_in = match v.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    Ok(TokenResponse {
        access_token: Secret::new(access),
        expires_in,
        refresh_token: refresh,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_responses() {
        let r = token_response(
            "u",
            &json!({"access_token":"at","token_type":"Bearer","expires_in":3599,"refresh_token":"rt"}),
        )
        .unwrap();
        assert_eq!(r.access_token.expose(), "at");
        assert_eq!(r.expires_in, Some(3599));
        assert_eq!(r.refresh_token.unwrap().expose(), "rt");
        let r = token_response("u", &json!({"access_token":"at","expires_in":"60"})).unwrap();
        assert_eq!(r.expires_in, Some(60));
        assert!(r.refresh_token.is_none());
        for bad in [
            json!({"token_type":"Bearer"}),
            json!({"access_token":"a b"}),
            json!({"access_token":"at","token_type":"mac"}),
            json!({"access_token":"at","refresh_token":"r\n"}),
        ] {
            let e = token_response("u", &bad).unwrap_err();
            assert!(matches!(e, OAuthError::BadResponse { .. }), "{bad}");
            assert!(!e.to_string().contains("at"), "{e}");
        }
    }

    #[test]
    fn provider_errors_are_escaped_and_scrubbed() {
        let rt = Secret::new("sekrit-rt");
        let e = provider_error(
            &json!({"error":"invalid_grant","error_description":"token sekrit-rt revoked\r\n\x1b[31m"}),
            &[&rt],
        );
        assert_eq!(e.error, "invalid_grant");
        let d = e.description.unwrap();
        assert!(
            !d.contains("sekrit-rt") && !d.contains('\r') && !d.contains('\x1b'),
            "{d}"
        );
    }
}
