//! The device authorization grant (RFC 8628): ask for a user code, show it with the verification URL, then poll
//! the token endpoint at the given interval until the user has approved, refused, or the code expired.

use std::time::Duration;

use serde_json::Value;

use super::http::{Http, TokenResponse};
use super::refresh::token_request;
use super::store::Holder;
use super::{OAuthError, Settings};
use crate::secret::Secret;

/// RFC 8628 §3.5: 5 seconds unless the server says otherwise; `slow_down` adds 5.
const DEFAULT_INTERVAL: u64 = 5;
const SLOW_DOWN_STEP: u64 = 5;
/// Bound on how long popfetch waits, whatever `expires_in` says.
const MAX_WAIT: u64 = 30 * 60;

/// The device authorization response (RFC 8628 §3.2).
pub struct DeviceCode {
    device_code: Secret,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    pub interval: u64,
}

/// Ask the device authorization endpoint for a code.
///
/// # Errors
/// Transport and provider errors as [`Http::post_form`]; [`OAuthError::BadResponse`] without the required fields.
pub async fn start(
    http: &Http,
    s: &Settings,
    secret: Option<&Secret>,
) -> Result<DeviceCode, OAuthError> {
    let url = s
        .device_authorization_url
        .as_deref()
        .ok_or_else(|| OAuthError::Flow {
            what: "no device_authorization_url is configured".into(),
        })?;
    let scope = s.scopes.join(" ");
    let mut form = vec![
        ("client_id", s.client_id.as_str()),
        ("scope", scope.as_str()),
    ];
    if let Some(sec) = secret {
        form.push(("client_secret", sec.expose()));
    }
    let scrub: Vec<&Secret> = secret.into_iter().collect();
    let v = match http.post_form(url, &form, &scrub).await? {
        Ok(v) => v,
        Err(error) => {
            return Err(OAuthError::Refused {
                url: url.to_owned(),
                error,
            });
        }
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let bad = |what| OAuthError::BadResponse {
        url: url.to_owned(),
        what,
    };
    let printable = |s: &String| !s.is_empty() && s.chars().all(|c| !c.is_control());
    let user_code = text("user_code")
        .filter(printable)
        .ok_or_else(|| bad("no user_code"))?;
    // Azure AD v1 said verification_url; RFC 8628 says verification_uri.
    let verification_uri = text("verification_uri")
        .or_else(|| text("verification_url"))
        .filter(|u| u.starts_with("https://") && printable(u))
        .ok_or_else(|| bad("no https verification_uri"))?;
    Ok(DeviceCode {
        device_code: Secret::new(text("device_code").ok_or_else(|| bad("no device_code"))?),
        user_code,
        verification_uri,
        verification_uri_complete: text("verification_uri_complete")
            .filter(|u| u.starts_with("https://") && printable(u)),
        expires_in: v
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(900)
            .min(MAX_WAIT),
        interval: v
            .get("interval")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_INTERVAL)
            .clamp(1, 60),
    })
}

/// Poll the token endpoint until the user approved (RFC 8628 §3.4–3.5).
///
/// # Errors
/// [`OAuthError::Flow`] when the user refused or the code expired; transport failures of a single poll end the
/// wait too (the caller can simply run `popfetch auth` again).
pub async fn wait(
    http: &Http,
    s: &Settings,
    holder: Holder<'_>,
    secret: Option<&Secret>,
    code: &DeviceCode,
) -> Result<TokenResponse, OAuthError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(code.expires_in);
    let mut interval = code.interval;
    let grant = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", code.device_code.expose()),
    ];
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if tokio::time::Instant::now() >= deadline {
            return Err(flow(
                "the code expired before it was approved; run popfetch auth again",
            ));
        }
        match token_request(http, s, holder, secret, &grant, &[&code.device_code]).await {
            Ok(r) => return Ok(r),
            Err(OAuthError::Refused { error, .. }) => match error.error.as_str() {
                "authorization_pending" => {}
                "slow_down" => interval += SLOW_DOWN_STEP,
                "access_denied" => return Err(flow("the authorization was refused")),
                "expired_token" => {
                    return Err(flow(
                        "the code expired before it was approved; run popfetch auth again",
                    ));
                }
                _ => {
                    return Err(OAuthError::Refused {
                        url: s.token_url.clone(),
                        error,
                    });
                }
            },
            Err(e) => return Err(e),
        }
    }
}

fn flow(what: &str) -> OAuthError {
    OAuthError::Flow {
        what: what.to_owned(),
    }
}
