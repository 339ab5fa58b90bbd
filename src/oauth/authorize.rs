//! `popfetch auth ACCOUNT`: the one-time authorization. The device grant where the settings have a device
//! endpoint (Microsoft), else the authorization code flow with PKCE and a loopback redirect (Google). Either way
//! the resulting refresh token goes to the token store, never to the terminal.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncBufRead;

use super::http::Http;
use super::loopback::Loopback;
use super::pkce::{self, Pkce};
use super::refresh::{client_secret, first_tokens, token_request};
use super::store::{Holder, TokenStore};
use super::{OAuthError, Settings, device};

/// How long the code flow waits for the redirect.
pub const CODE_FLOW_LIMIT: Duration = Duration::from_secs(15 * 60);

/// What `popfetch auth` needs to know about the account.
pub struct Request<'a> {
    pub settings: &'a Settings,
    /// The account, and whether this is its IMAP destination's login (`popfetch auth --imap`).
    pub holder: Holder<'a>,
    /// The mail login, sent as `login_hint`.
    pub user: &'a str,
    pub state_dir: &'a Path,
    /// Bound on each HTTP exchange.
    pub timeout: Duration,
}

/// Run the flow, printing instructions to `out` and reading a pasted redirect URL from `paste`; store the tokens.
///
/// # Errors
/// [`OAuthError`]: the user refused, the code expired, the provider failed, the store cannot be written.
pub async fn authorize(
    req: &Request<'_>,
    out: &mut (dyn Write + Send),
    paste: impl AsyncBufRead + Unpin,
) -> Result<(), OAuthError> {
    let s = req.settings;
    let secret = client_secret(s, req.holder).await?;
    let http = Http::new(req.timeout)?;
    let say = |out: &mut (dyn Write + Send), text: String| {
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    };
    let response = if s.device_authorization_url.is_some() {
        let code = device::start(&http, s, secret.as_ref()).await?;
        let mut text = format!(
            "To authorize popfetch for {}, open {} in a browser (on any machine) and enter the code {}",
            req.holder, code.verification_uri, code.user_code
        );
        if let Some(c) = &code.verification_uri_complete {
            text.push_str(&format!("\n(or open {c})"));
        }
        text.push_str(&format!(
            "\nThe code is valid for {} minutes; waiting...",
            code.expires_in.div_ceil(60)
        ));
        say(out, text);
        device::wait(&http, s, req.holder, secret.as_ref(), &code).await?
    } else {
        let pkce = Pkce::new()?;
        let state = pkce::new_state()?;
        let listener = Loopback::bind().await?;
        let url =
            pkce::authorization_url(s, &listener.redirect_uri, &pkce.challenge, &state, req.user)?;
        let redirect_uri = listener.redirect_uri.clone();
        say(
            out,
            format!(
                "To authorize popfetch for {}, open this URL in a browser:\n\n{url}\n\n\
                 After you approve, the browser is sent to {redirect_uri} and popfetch continues by itself.\n\
                 If the browser runs on another machine, that page will not load: copy the whole URL from its \
                 address bar and paste it here, then press Enter.",
                req.holder
            ),
        );
        let code = listener.wait(&state, paste, CODE_FLOW_LIMIT).await?;
        let grant = [
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", pkce.verifier.expose()),
        ];
        token_request(
            &http,
            s,
            req.holder,
            secret.as_ref(),
            &grant,
            &[&code, &pkce.verifier],
        )
        .await?
    };
    let tokens = first_tokens(s, response)?;
    let store = TokenStore::of(req.state_dir, req.holder);
    store.save(&tokens)?;
    say(
        out,
        format!(
            "{}: authorized; the refresh token is stored in {}",
            req.holder,
            store.path().display()
        ),
    );
    Ok(())
}
