//! The login step of a poll: get the account's credential (a password from its source, or an OAuth 2.0 access
//! token from [`crate::oauth`], refreshed when needed) and authenticate the POP3 session with it.

use std::path::Path;

use super::{Failure, chain, pop3_fail};
use crate::config::Account;
use crate::oauth;
use crate::pop3::{Client, Pop3Error};
use crate::secret::Secret;
use crate::untrusted::Secrets;

/// What the login sends.
pub(super) enum Credential {
    Password(Secret),
    Bearer(Secret),
}

/// The account's credential. For OAuth this is where the token is refreshed, before any connection to the mail
/// server: a revoked authorization (exit 77, "run popfetch auth") or an unreachable provider (75) costs no POP3
/// session. The credential goes into `secrets` as soon as it is known.
pub(super) async fn credential(
    acct: &Account,
    state_dir: &Path,
    secrets: &Secrets,
) -> Result<Credential, Failure> {
    let known = |s: Secret| {
        secrets.add(&s);
        s
    };
    if let Some(settings) = &acct.oauth2 {
        return oauth::access_token(settings, &acct.name, state_dir, acct.timeout)
            .await
            .map(|t| Credential::Bearer(known(t)))
            .map_err(|e| Failure::of(e.class(), chain(&e)));
    }
    match &acct.password {
        Some(source) => source
            .resolve(&acct.name)
            .await
            .map(|p| Credential::Password(known(p)))
            .map_err(|e| Failure::of(e.class(), chain(&e))),
        None => Err(Failure::of(
            crate::error::ExitClass::Internal,
            "account has neither a password nor oauth2 settings",
        )),
    }
}

/// Authenticate. A bearer token the server refused is dropped from the cache (the refresh token is kept), so the
/// next poll asks the provider for a fresh one instead of offering the same token again.
pub(super) async fn login(
    client: &mut Client,
    acct: &Account,
    credential: Credential,
    state_dir: &Path,
) -> Result<(), Failure> {
    match credential {
        Credential::Password(password) => client
            .login(
                &acct.user,
                &password,
                acct.auth,
                acct.allow_plaintext_password,
            )
            .await
            .map_err(pop3_fail),
        Credential::Bearer(token) => {
            let r = client
                .login_bearer(
                    &acct.user,
                    &token,
                    acct.auth,
                    (&acct.host, acct.port),
                    acct.allow_plaintext_password,
                )
                .await;
            if let Err(Pop3Error::BearerRefused { .. } | Pop3Error::Server { .. }) = &r
                && let Err(e) = oauth::refresh::forget_access_token(state_dir, &acct.name)
            {
                tracing::warn!("account {:?}: {}", acct.name, chain(&e));
            }
            r.map_err(pop3_fail)
        }
    }
}
