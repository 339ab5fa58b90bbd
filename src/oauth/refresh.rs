//! A valid access token for a poll: the cached one while it stays valid for more than [`MIN_VALIDITY`], else a new
//! one from the token endpoint (RFC 6749 §6). A rotated refresh token is saved (atomically, with the new access
//! token) before the access token is handed out, so a crash right after a rotation cannot lose the only valid
//! refresh token.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::http::{Http, TokenResponse, token_response};
use super::store::{Holder, TokenStore, Tokens};
use super::{ClientSecret, OAuthError, Settings};
use crate::secret::Secret;

/// A cached access token is used only while it stays valid this much longer (seconds): a POP3 login and a
/// long poll must not outlive it.
pub const MIN_VALIDITY: u64 = 300;

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The client secret, read afresh (a `client_secret_file` may be replaced between polls).
///
/// # Errors
/// [`OAuthError::ClientSecret`] for an unreadable or unsafe file.
pub async fn client_secret(s: &Settings, holder: Holder<'_>) -> Result<Option<Secret>, OAuthError> {
    let key = if holder.imap {
        "imap.oauth2.client_secret_file"
    } else {
        "oauth2.client_secret_file"
    };
    Ok(match &s.client_secret {
        None => None,
        Some(ClientSecret::Inline(v)) => Some(v.clone()),
        Some(ClientSecret::File(p)) => {
            Some(crate::config::read_secret_file(holder.account, key, p).await?)
        }
    })
}

/// POST a grant to the token endpoint and read the token response. `invalid_grant` (and Microsoft's
/// `interaction_required`) means the stored authorization is gone: [`OAuthError::Revoked`].
///
/// # Errors
/// [`OAuthError`] as [`Http::post_form`], plus [`OAuthError::Revoked`] and [`OAuthError::Refused`].
pub async fn token_request(
    http: &Http,
    s: &Settings,
    holder: Holder<'_>,
    secret: Option<&Secret>,
    grant: &[(&str, &str)],
    secrets: &[&Secret],
) -> Result<TokenResponse, OAuthError> {
    let mut form: Vec<(&str, &str)> = grant.to_vec();
    form.push(("client_id", &s.client_id));
    // RFC 6749 §2.3.1 allows the credentials in the body; Google and Microsoft both accept them there.
    if let Some(sec) = secret {
        form.push(("client_secret", sec.expose()));
    }
    let mut scrub: Vec<&Secret> = secrets.to_vec();
    scrub.extend(secret);
    match http.post_form(&s.token_url, &form, &scrub).await? {
        Ok(v) => token_response(&s.token_url, &v),
        Err(e) if e.error == "invalid_grant" || e.error == "interaction_required" => {
            Err(OAuthError::Revoked {
                command: holder.auth_command(),
                error: e,
            })
        }
        Err(e) => Err(OAuthError::Refused {
            url: s.token_url.clone(),
            error: e,
        }),
    }
}

/// The access token of `holder`: cached while valid for more than [`MIN_VALIDITY`] seconds, else refreshed
/// (every HTTP step bounded by `timeout`) and stored before it is returned.
///
/// # Errors
/// [`OAuthError::NotAuthorized`] / [`OAuthError::ClientChanged`] / [`OAuthError::Revoked`] (exit 77, "run
/// popfetch auth"), transport and 5xx failures (75), token file problems (74).
pub async fn access_token(
    s: &Settings,
    holder: Holder<'_>,
    state_dir: &Path,
    timeout: Duration,
) -> Result<Secret, OAuthError> {
    let store = TokenStore::of(state_dir, holder);
    let mut tokens = stored_tokens(&store, s, holder)?;
    let start = now();
    if let Some((token, expires_at)) = &tokens.access
        && *expires_at > start + MIN_VALIDITY
    {
        tracing::debug!("{holder}: using the cached oauth2 access token");
        return Ok(token.clone());
    }
    let secret = client_secret(s, holder).await?;
    let http = Http::new(timeout)?;
    let scope = s.scopes.join(" ");
    let refresh = tokens.refresh_token.clone();
    let grant = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.expose()),
        // RFC 6749 §6: the same scope as granted; Microsoft's v2.0 endpoint wants it named.
        ("scope", scope.as_str()),
    ];
    let r = token_request(&http, s, holder, secret.as_ref(), &grant, &[&refresh]).await?;
    if r.refresh_token.is_some() {
        tracing::info!("{holder}: the provider rotated the refresh token; saved");
    }
    tokens.refresh_token = r.refresh_token.unwrap_or(refresh);
    // Without expires_in the lifetime is unknown: use the token for this poll only.
    tokens.access = Some((r.access_token.clone(), start + r.expires_in.unwrap_or(0)));
    store.save(&tokens)?;
    tracing::debug!("{holder}: refreshed the oauth2 access token");
    Ok(r.access_token)
}

/// The tokens stored for `holder`, issued for the client and token endpoint of `s` (`popfetch check` looks at them
/// offline the same way).
///
/// # Errors
/// [`OAuthError::NotAuthorized`], [`OAuthError::ClientChanged`], [`OAuthError::Store`].
pub fn stored_tokens(
    store: &TokenStore,
    s: &Settings,
    holder: Holder<'_>,
) -> Result<Tokens, OAuthError> {
    let tokens = store.load()?.ok_or_else(|| OAuthError::NotAuthorized {
        command: holder.auth_command(),
    })?;
    if tokens.token_url != s.token_url || tokens.client_id != s.client_id {
        return Err(OAuthError::ClientChanged {
            command: holder.auth_command(),
        });
    }
    Ok(tokens)
}

/// Drop the cached access token (the mail server refused it), keeping the refresh token, so that the next poll
/// refreshes instead of offering the same token again.
///
/// # Errors
/// [`OAuthError::Store`].
pub fn forget_access_token(state_dir: &Path, holder: Holder<'_>) -> Result<(), OAuthError> {
    let store = TokenStore::of(state_dir, holder);
    if let Some(mut t) = store.load()?
        && t.access.is_some()
    {
        t.access = None;
        store.save(&t)?;
    }
    Ok(())
}

/// The tokens of a first grant, to be stored. A grant without a refresh token is useless for unattended polling.
///
/// # Errors
/// [`OAuthError::Flow`] when the provider issued no refresh token.
pub fn first_tokens(s: &Settings, r: TokenResponse) -> Result<Tokens, OAuthError> {
    let refresh_token = r.refresh_token.ok_or_else(|| OAuthError::Flow {
        what: "the provider issued no refresh token (for a custom provider, check that the scopes include \
               what it needs for offline access, e.g. offline_access)"
            .into(),
    })?;
    Ok(Tokens {
        token_url: s.token_url.clone(),
        client_id: s.client_id.clone(),
        refresh_token,
        access: Some((r.access_token, now() + r.expires_in.unwrap_or(0))),
    })
}
