//! The login step of a poll: get the account's credential (a password from its source, or an OAuth 2.0 access
//! token from [`crate::oauth`], refreshed when needed) and authenticate the POP3 session with it; the same for the
//! IMAP destination's login (issue 14), which has its own settings and token file.

use std::path::Path;

use super::{Failure, chain};
use crate::config::{Account, Imap, ImapLogin};
use crate::deliver::imap::{self, ImapError};
use crate::oauth;
use crate::pop3::{Client, Pop3Error, RespCode};
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
        return oauth::access_token(settings, pop3_holder(acct), state_dir, acct.timeout)
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

/// Authenticate. A bearer token the server refused ([`token_refused`]) is dropped from the cache (the refresh
/// token is kept), so the next credential is a fresh one from the provider instead of the same token again.
///
/// # Errors
/// The session's failure, for [`super::pop3_fail`] (`open_pop3` may first try once more with a fresh token).
pub(super) async fn login(
    client: &mut Client,
    acct: &Account,
    credential: Credential,
    state_dir: &Path,
) -> Result<(), Pop3Error> {
    match credential {
        Credential::Password(password) => {
            client
                .login(
                    &acct.user,
                    &password,
                    acct.auth,
                    acct.allow_plaintext_password,
                )
                .await
        }
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
            if let Err(e) = &r
                && token_refused(e)
                && let Err(e) = oauth::refresh::forget_access_token(state_dir, pop3_holder(acct))
            {
                tracing::warn!("account {:?}: {}", acct.name, chain(&e));
            }
            r
        }
    }
}

/// Whether a failed bearer login is the server refusing the token: an error challenge (RFC 7628 §3.2.2), or a
/// `-ERR` with no response code or `[AUTH]` (RFC 3206 §5). A token can be revoked before its expiry (a password
/// change, a provider's own policy), so a fresh one is worth one more try (catalog T-18). `[IN-USE]`,
/// `[SYS/TEMP]` and the other codes are not about the token.
pub(super) fn token_refused(e: &Pop3Error) -> bool {
    match e {
        Pop3Error::BearerRefused { .. } => true,
        Pop3Error::Server { error, .. } => matches!(error.code, None | Some(RespCode::Auth)),
        _ => false,
    }
}

/// The POP3 login's token holder (the IMAP destination has its own, [`imap_holder`]).
pub(crate) fn pop3_holder(acct: &Account) -> oauth::Holder<'_> {
    oauth::Holder {
        account: &acct.name,
        imap: false,
    }
}

/// Open the IMAP destination's session: get its credential, connect and log in. A bearer token the server refused
/// is dropped from the cache and the login tried once more with a fresh one, as for POP3 (catalog T-18). Used by a
/// poll and by `popfetch check --connect`.
///
/// # Errors
/// [`ImapError`]: the credential (a password source, the token refresh) or the session.
pub(crate) async fn open_imap(
    acct: &Account,
    cfg: &Imap,
    state_dir: &Path,
    secrets: &Secrets,
) -> Result<imap::Session, ImapError> {
    let mut retried = false;
    loop {
        let credential = imap_credential(acct, cfg, state_dir, secrets).await?;
        let r = imap::Session::open(cfg, &credential, acct.timeout, secrets).await;
        let refused = matches!(credential, imap::Credential::Bearer { .. })
            && matches!(
                &r,
                Err(ImapError::Login { .. } | ImapError::BearerRefused { .. })
            );
        if !refused {
            return r;
        }
        if let Err(e) = oauth::refresh::forget_access_token(state_dir, imap_holder(acct)) {
            tracing::warn!("account {:?}: {}", acct.name, chain(&e));
            return r;
        }
        if retried {
            return r;
        }
        retried = true;
        if let Err(e) = &r {
            tracing::info!(
                "account {:?}: {}; logging in to IMAP once more with a fresh access token",
                acct.name,
                chain(e)
            );
        }
    }
}

/// The IMAP destination's credential: its password, or an access token for `[account.imap.oauth2]`, refreshed
/// when needed (before the IMAP connection, as for POP3). Added to `secrets` as soon as it is known.
async fn imap_credential(
    acct: &Account,
    cfg: &Imap,
    state_dir: &Path,
    secrets: &Secrets,
) -> Result<imap::Credential, ImapError> {
    Ok(match &cfg.login {
        ImapLogin::Password(source) => {
            let p = source
                .resolve(&acct.name)
                .await
                .map_err(ImapError::Password)?;
            secrets.add(&p);
            imap::Credential::Password(p)
        }
        ImapLogin::Bearer { mechanism, oauth2 } => {
            let token = oauth::access_token(oauth2, imap_holder(acct), state_dir, acct.timeout)
                .await
                .map_err(ImapError::OAuth)?;
            secrets.add(&token);
            imap::Credential::Bearer {
                mechanism: *mechanism,
                token,
            }
        }
    })
}

/// The IMAP destination's token holder.
pub(crate) fn imap_holder(acct: &Account) -> oauth::Holder<'_> {
    oauth::Holder {
        account: &acct.name,
        imap: true,
    }
}
