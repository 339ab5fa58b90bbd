//! What popfetch knows about OAuth 2.0 providers, and the settings an account's `[account.oauth2]` resolves to.
//! Pure data: no I/O.

use std::path::PathBuf;

use crate::secret::Secret;

/// A provider preset (`provider = "google" | "microsoft"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Microsoft,
}

/// The endpoints and scopes of a preset; each can be overridden by the explicit keys (e.g. a Microsoft tenant's
/// own `token_url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub authorization_url: &'static str,
    pub token_url: &'static str,
    /// RFC 8628 endpoint, where the provider allows the device grant for mail scopes.
    pub device_authorization_url: Option<&'static str>,
    pub scopes: &'static [&'static str],
    /// Extra authorization request parameters the provider needs to hand out a refresh token.
    pub authorization_params: &'static [(&'static str, &'static str)],
}

impl Provider {
    /// The preset's endpoints and scopes.
    pub fn preset(self) -> Preset {
        match self {
            // Google's device grant does not allow the mail scope ("limited input device" clients get a fixed
            // scope list without https://mail.google.com/), so Google uses the code flow with a loopback
            // redirect. Without access_type=offline no refresh token is issued; prompt=consent makes Google issue
            // a new one when the user authorizes again.
            Provider::Google => Preset {
                authorization_url: "https://accounts.google.com/o/oauth2/v2/auth",
                token_url: "https://oauth2.googleapis.com/token",
                device_authorization_url: None,
                scopes: &["https://mail.google.com/"],
                authorization_params: &[("access_type", "offline"), ("prompt", "consent")],
            },
            // The `common` tenant serves personal and work accounts; offline_access is what yields a refresh
            // token on the Microsoft identity platform.
            Provider::Microsoft => Preset {
                authorization_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
                token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
                device_authorization_url: Some(
                    "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
                ),
                scopes: &[
                    "https://outlook.office.com/POP.AccessAsUser.All",
                    "offline_access",
                ],
                authorization_params: &[],
            },
        }
    }

    /// The name used in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
        }
    }
}

/// Where the client secret comes from. Public clients (Microsoft's for desktop apps) have none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSecret {
    /// `client_secret` in the config file (which must then be private, like a password).
    Inline(Secret),
    /// `client_secret_file`: the first line of a private (0600) file, read when needed.
    File(PathBuf),
}

/// One account's OAuth 2.0 client settings, resolved from `[account.oauth2]` (preset plus explicit keys). Every
/// URL is `https`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The preset used, if any (for messages).
    pub provider: Option<Provider>,
    /// Authorization endpoint for the code flow (RFC 6749 §3.1).
    pub authorization_url: Option<String>,
    /// Token endpoint (RFC 6749 §3.2).
    pub token_url: String,
    /// Device authorization endpoint (RFC 8628 §3.1); when set, `popfetch auth` uses the device grant.
    pub device_authorization_url: Option<String>,
    pub scopes: Vec<String>,
    /// Extra authorization request parameters (from the preset).
    pub authorization_params: Vec<(String, String)>,
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
}
