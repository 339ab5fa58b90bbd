//! Validation of `[account.oauth2]` into [`crate::config::Settings`] (issue 13), and the client secret file rule.

use std::ops::Range;

use toml::Spanned;

use super::AuthMethod;
use super::raw::{RawAccount, RawOAuth2, Str};
use super::validate::Checker;
use super::{ClientSecret, Provider, Settings};
use crate::secret::Secret;

/// The password keys of an account, which an OAuth account must not have.
const PASSWORD_KEYS: [&str; 3] = ["password", "password_file", "password_command"];

/// True for the OAuth mechanisms.
pub(crate) fn is_oauth(auth: AuthMethod) -> bool {
    matches!(auth, AuthMethod::XOAuth2 | AuthMethod::OAuthBearer)
}

/// For an OAuth account: no password key, and a valid `[account.oauth2]`. For any other account: no
/// `[account.oauth2]` (it would do nothing). `None` for a password account or when there were problems.
pub(crate) fn check(
    r: &RawAccount,
    auth: AuthMethod,
    whole: &Range<usize>,
    c: &mut Checker<'_>,
) -> Option<Settings> {
    if !is_oauth(auth) {
        if let Some(t) = &r.oauth2 {
            c.err(
                t.span(),
                "oauth2",
                "is only used with auth = \"xoauth2\" or \"oauthbearer\"; remove it or set auth",
            );
        }
        return None;
    }
    for (key, span) in PASSWORD_KEYS.into_iter().zip([
        r.password.as_ref().map(Spanned::span),
        r.password_file.as_ref().map(Spanned::span),
        r.password_command.as_ref().map(Spanned::span),
    ]) {
        if let Some(span) = span {
            c.err(
                span,
                key,
                "is not used with an oauth2 login (the token comes from `popfetch auth`); remove it",
            );
        }
    }
    let Some(t) = &r.oauth2 else {
        c.err(
            whole.clone(),
            "oauth2",
            "missing: auth = \"xoauth2\" or \"oauthbearer\" needs an [account.oauth2] table",
        );
        return None;
    };
    settings(t.get_ref(), &t.span(), "", c)
}

/// `[account.oauth2]` or `[account.imap.oauth2]` (`prefix` = `"imap."`, which problems name the keys with).
pub(crate) fn settings(
    t: &RawOAuth2,
    whole: &Range<usize>,
    prefix: &str,
    c: &mut Checker<'_>,
) -> Option<Settings> {
    let k = |name: &str| format!("{prefix}oauth2.{name}");
    let before = c.issues.len();
    let provider = c.choice_opt(
        &t.provider,
        &k("provider"),
        &[
            ("google", Provider::Google),
            ("microsoft", Provider::Microsoft),
        ],
    );
    let preset = provider.map(Provider::preset);
    let url = |c: &mut Checker<'_>, v: &Option<Str>, key: &str, preset: Option<&str>| {
        v.as_ref()
            .map(|s| {
                https_url(c, s, key);
                s.get_ref().clone()
            })
            .or(preset.map(str::to_owned))
    };
    let authorization_url = url(
        c,
        &t.authorization_url,
        &k("authorization_url"),
        preset.as_ref().map(|p| p.authorization_url),
    );
    let token_url = url(
        c,
        &t.token_url,
        &k("token_url"),
        preset.as_ref().map(|p| p.token_url),
    );
    let device_authorization_url = url(
        c,
        &t.device_authorization_url,
        &k("device_authorization_url"),
        preset.as_ref().and_then(|p| p.device_authorization_url),
    );
    if token_url.is_none() {
        c.err(
            whole.clone(),
            &k("token_url"),
            "missing: set provider = \"google\" or \"microsoft\", or token_url",
        );
    }
    if authorization_url.is_none() && device_authorization_url.is_none() {
        c.err(
            whole.clone(),
            &k("authorization_url"),
            "missing: set provider, or authorization_url and/or device_authorization_url",
        );
    }
    let scopes: Vec<String> = match &t.scopes {
        Some(list) => {
            let scopes: Vec<String> = list.get_ref().iter().map(|s| s.get_ref().clone()).collect();
            // RFC 6749 §3.3: scope tokens are %x21 / %x23-5B / %x5D-7E, joined by spaces.
            if scopes.is_empty()
                || scopes.iter().any(|s| {
                    s.is_empty()
                        || !s
                            .bytes()
                            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) && b != b'\\')
                })
            {
                c.err(
                    list.span(),
                    &k("scopes"),
                    "must be a non-empty list of scope names without spaces, quotes or backslashes",
                );
            }
            scopes
        }
        None => match &preset {
            Some(p) => p.scopes.iter().map(|s| (*s).to_owned()).collect(),
            None => {
                c.err(
                    whole.clone(),
                    &k("scopes"),
                    "missing: set provider, or scopes",
                );
                Vec::new()
            }
        },
    };
    let client_id = c.required(&t.client_id, whole, &k("client_id")).map(|s| {
        if s.get_ref().is_empty() || s.get_ref().contains(['\r', '\n', '\0']) {
            c.err(s.span(), &k("client_id"), "must be a non-empty single line");
        }
        s.get_ref().clone()
    });
    let client_secret = match (&t.client_secret, &t.client_secret_file) {
        (Some(_), Some(f)) => {
            c.err(
                f.span(),
                &k("client_secret_file"),
                "client_secret is set already; set only one of them",
            );
            None
        }
        (Some(s), None) => {
            if s.get_ref().is_empty() || s.get_ref().contains(['\r', '\n', '\0']) {
                c.err(
                    s.span(),
                    &k("client_secret"),
                    "must be a non-empty single line",
                );
            }
            Some(ClientSecret::Inline(Secret::new(s.get_ref().clone())))
        }
        (None, Some(f)) => Some(ClientSecret::File(c.path(f, &k("client_secret_file")))),
        (None, None) => None,
    };
    if c.issues.len() > before {
        return None;
    }
    Some(Settings {
        provider,
        authorization_url,
        token_url: token_url?,
        device_authorization_url,
        scopes,
        authorization_params: preset
            .map(|p| {
                p.authorization_params
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        client_id: client_id?,
        client_secret,
    })
}

/// Endpoints are `https` only: they carry the refresh token and the client secret (RFC 6749 §3.1, §3.2 require
/// TLS).
fn https_url(c: &mut Checker<'_>, s: &Str, key: &str) {
    match reqwest::Url::parse(s.get_ref()) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() && u.fragment().is_none() => {}
        Ok(_) => c.err(s.span(), key, "must be an https:// URL without a fragment"),
        Err(e) => c.err(s.span(), key, format!("is not a valid URL ({e})")),
    }
}
