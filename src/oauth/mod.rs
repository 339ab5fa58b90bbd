//! OAuth 2.0 for mail logins (issue 13): the token store, the token endpoint calls (refresh, RFC 6749 §6), the
//! one-time authorization flows behind `popfetch auth` (device grant RFC 8628, authorization code with PKCE RFC
//! 7636 and a loopback redirect RFC 8252), and the SASL payloads XOAUTH2 and OAUTHBEARER (RFC 7628).
//!
//! No mail protocol code lives here: `pop3` and the IMAP destination take an access token from
//! [`access_token`] and a payload from [`sasl`]. Tokens travel as [`crate::secret::Secret`] and never reach a log,
//! an error, argv or a child's environment.
//!
//! - [`crate::config::Provider`] presets and the resolved [`Settings`] are configuration (`config::oauth_provider`).
//! - [`store`]: the per-account token file in `state_dir` (0600, atomic writes).
//! - [`http`]: the one HTTP client (reqwest, rustls on ring) and the token endpoint exchange.
//! - [`refresh`]: a valid access token for a poll: the cached one, or a refreshed one.
//! - [`device`], [`pkce`], [`loopback`]: the authorization flows.
//! - [`sasl`]: payload builders and the server's error challenge.

pub mod authorize;
pub mod device;
mod error;
pub mod http;
pub mod loopback;
pub mod pkce;
pub mod refresh;
pub mod sasl;
pub mod store;

pub use error::{OAuthError, ProviderError};
// The settings are configuration (pure data, `config` resolves them); re-exported where the flows use them.
pub use crate::config::{ClientSecret, Provider, Settings};
pub use refresh::access_token;
pub use store::Holder;
