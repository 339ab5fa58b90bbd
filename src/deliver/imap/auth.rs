//! The login of the IMAP destination's session: `LOGIN` or `AUTHENTICATE PLAIN` with a password (RFC 9051
//! §6.2.2, §6.2.3), or `AUTHENTICATE XOAUTH2` / `OAUTHBEARER` with an OAuth 2.0 access token (Google's XOAUTH2,
//! RFC 7628). The payloads come from [`crate::oauth::sasl`]; every credential and payload goes into the session's
//! secrets before it is sent, so no server text can echo it (design invariant 5).

use super::codec::{Code, Status};
use super::{Done, ImapError, Session, command};
use crate::config::{Bearer, Imap};
use crate::oauth::sasl;
use crate::secret::Secret;

/// What the session logs in with.
pub enum Credential {
    Password(Secret),
    /// An access token for the mechanism of `[account.imap] auth`.
    Bearer {
        mechanism: Bearer,
        token: Secret,
    },
}

impl Session {
    /// Authenticate as `cfg.user`. A failure is returned as is: no other mechanism is tried.
    pub(super) async fn login(
        &mut self,
        cfg: &Imap,
        credential: &Credential,
    ) -> Result<(), ImapError> {
        match credential {
            Credential::Password(p) => self.login_password(&cfg.user, p).await,
            Credential::Bearer { mechanism, token } => {
                self.login_bearer(cfg, *mechanism, token).await
            }
        }
    }

    /// LOGIN, or AUTHENTICATE PLAIN when offered. The payload goes into the secrets.
    async fn login_password(&mut self, user: &str, password: &Secret) -> Result<(), ImapError> {
        let phase = "login";
        let tag = self.next_tag();
        let payload = command::plain(user, password.expose());
        self.secrets.add_bytes(payload.as_bytes());
        let (line, send_payload) = if self.has("AUTH=PLAIN") {
            if self.has("SASL-IR") {
                (format!("{tag} AUTHENTICATE PLAIN {payload}\r\n"), false)
            } else {
                (format!("{tag} AUTHENTICATE PLAIN\r\n"), true)
            }
        } else if self.has("LOGINDISABLED") || !password.expose().is_ascii() {
            return Err(ImapError::NoLogin);
        } else {
            (
                format!(
                    "{tag} LOGIN {} {}\r\n",
                    command::quoted(user),
                    command::quoted(password.expose())
                ),
                false,
            )
        };
        self.write(line.as_bytes(), phase).await?;
        if send_payload {
            match self.read_until_tagged_or_continue(&tag, phase).await? {
                None => {
                    self.write(format!("{payload}\r\n").as_bytes(), phase)
                        .await?
                }
                Some(done) => return self.login_result(user, done),
            }
        }
        let done = self.tagged(&tag, phase).await?;
        self.login_result(user, done)
    }

    /// AUTHENTICATE XOAUTH2 or OAUTHBEARER: the payload as an initial response with SASL-IR (RFC 4959), else
    /// after the server's empty continuation. A continuation after the payload is the server's error challenge
    /// (RFC 7628 §3.2.2, the same JSON for XOAUTH2): it is answered as the mechanism demands (`AQ==`, i.e.
    /// %x01, for OAUTHBEARER, §3.2.3; an empty line for XOAUTH2) and the tagged NO that follows is the refusal.
    /// A continuation that is not such a challenge is cancelled with `*` (RFC 9051 §6.2.2).
    async fn login_bearer(
        &mut self,
        cfg: &Imap,
        mechanism: Bearer,
        token: &Secret,
    ) -> Result<(), ImapError> {
        let phase = "authenticate";
        let name = mechanism.sasl_name();
        if !self.has(&format!("AUTH={name}")) {
            return Err(ImapError::MechanismNotOffered { mechanism: name });
        }
        let payload = match mechanism {
            Bearer::XOAuth2 => sasl::xoauth2(&cfg.user, token),
            Bearer::OAuthBearer => sasl::oauthbearer(&cfg.user, &cfg.host, cfg.port, token),
        };
        self.secrets.add(token);
        self.secrets.add(&payload);
        let tag = self.next_tag();
        if self.has("SASL-IR") {
            let line = format!("{tag} AUTHENTICATE {name} {}\r\n", payload.expose());
            self.write(line.as_bytes(), phase).await?;
        } else {
            self.write(format!("{tag} AUTHENTICATE {name}\r\n").as_bytes(), phase)
                .await?;
            match self.step(&tag, phase, true).await? {
                Err(_) => {
                    self.write(format!("{}\r\n", payload.expose()).as_bytes(), phase)
                        .await?
                }
                Ok(done) => return self.login_result(&cfg.user, done),
            }
        }
        let challenge = match self.step(&tag, phase, true).await? {
            Ok(done) => return self.login_result(&cfg.user, done),
            Err(challenge) => challenge,
        };
        let parsed = std::str::from_utf8(&challenge)
            .ok()
            .and_then(|c| sasl::parse_challenge(c, &self.secrets));
        let answer = match parsed {
            Some(_) => sasl::error_ack(mechanism == Bearer::OAuthBearer),
            None => "*",
        };
        self.write(format!("{answer}\r\n").as_bytes(), phase)
            .await?;
        let (status, _, text) = self.tagged(&tag, phase).await?;
        if status == Status::Ok {
            return Err(ImapError::Protocol {
                phase,
                what: "authentication succeeded after an error challenge".into(),
            });
        }
        Err(ImapError::BearerRefused {
            user: cfg.user.clone(),
            challenge: parsed,
            text: self.show(&text),
        })
    }

    pub(super) fn login_result(
        &mut self,
        user: &str,
        (status, code, text): Done,
    ) -> Result<(), ImapError> {
        if status != Status::Ok {
            return Err(ImapError::Login {
                user: user.to_owned(),
                text: self.show(&text),
            });
        }
        // Capabilities may change after login (RFC 9051 §6.2.3); an OK may carry the new list.
        match code {
            Some(Code::Capability(caps)) => self.caps = caps,
            _ => self.caps.clear(),
        }
        Ok(())
    }
}
