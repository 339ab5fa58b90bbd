//! Authentication exchanges of [`Client`]: USER/PASS, AUTH PLAIN (RFC 5034) and APOP (RFC 1939 §7). The
//! mechanism choice and encodings are pure functions in [`crate::pop3::auth`].

use super::Client;
use crate::config::AuthMethod;
use crate::oauth::sasl;
use crate::pop3::Pop3Error;
use crate::pop3::auth::{self, Mechanism};
use crate::pop3::codec::AuthLine;
use crate::secret::Secret;
use crate::untrusted::{self, Secrets};

impl Client {
    /// Authenticate. `Auto` uses AUTH PLAIN when CAPA lists it in SASL, else USER/PASS; APOP only when asked (it
    /// needs a valid greeting timestamp). A failure is returned as is: no other mechanism is tried. Over an
    /// unencrypted link no password-bearing command is sent unless `allow_plaintext` (T-15). AUTH PLAIN sends an
    /// initial response unless `AUTH PLAIN <b64>` would exceed 255 octets (RFC 5034 §4), then the continuation.
    ///
    /// # Errors
    /// [`Pop3Error::PlaintextRefused`], [`Pop3Error::AuthNotOffered`], [`Pop3Error::NoApopTimestamp`] and
    /// [`Pop3Error::BadCredential`] before anything is sent; [`Pop3Error::Server`] for `-ERR`; transport errors.
    ///
    /// # Cancel safety
    /// Not cancel-safe (see [`Client`]).
    pub async fn login(
        &mut self,
        user: &str,
        password: &Secret,
        method: AuthMethod,
        allow_plaintext: bool,
    ) -> Result<(), Pop3Error> {
        self.enter(true)?;
        let r = self
            .login_inner(user, password, method, allow_plaintext)
            .await
            .map_err(login_delay);
        self.leave(r)
    }

    async fn login_inner(
        &mut self,
        user: &str,
        password: &Secret,
        method: AuthMethod,
        allow_plaintext: bool,
    ) -> Result<(), Pop3Error> {
        if !auth::is_line_safe(user) || !auth::is_line_safe(password.expose()) {
            return Err(Pop3Error::BadCredential);
        }
        let mech = auth::choose(method, &self.caps)?;
        let ts = match mech {
            Mechanism::Apop => Some(
                self.apop_timestamp
                    .clone()
                    .ok_or(Pop3Error::NoApopTimestamp)?,
            ),
            Mechanism::UserPass
            | Mechanism::Plain
            | Mechanism::XOAuth2
            | Mechanism::OAuthBearer => None,
        };
        if !self.encrypted && !allow_plaintext {
            return Err(Pop3Error::PlaintextRefused);
        }
        self.secrets.add(password);
        self.check_idle("login").await?;
        // The user name comes from the configuration; escaped all the same, it goes into the trace.
        let shown_user = Secrets::none().show(user.as_bytes(), untrusted::REPLY);
        match (mech, ts) {
            (Mechanism::Apop, Some(ts)) => {
                let digest = Secret::new(auth::apop_digest(&ts, password.expose()));
                self.secrets.add(&digest);
                let line = format!("APOP {user} {}", digest.expose());
                self.send(&line, &format!("APOP {shown_user} [redacted]"), "apop")
                    .await?;
                self.expect_ok("APOP", "apop").await
            }
            (Mechanism::UserPass, _) => {
                self.send(
                    &format!("USER {user}"),
                    &format!("USER {shown_user}"),
                    "user",
                )
                .await?;
                self.expect_ok("USER", "user").await?;
                let line = format!("PASS {}", password.expose());
                self.send(&line, "PASS [redacted]", "pass").await?;
                self.expect_ok("PASS", "pass").await
            }
            (Mechanism::Plain, _) => self.auth_plain(user, password).await,
            (Mechanism::Apop, None) => Err(Pop3Error::NoApopTimestamp),
            (Mechanism::XOAuth2 | Mechanism::OAuthBearer, _) => Err(Pop3Error::Misuse {
                what: "a bearer mechanism needs login_bearer",
            }),
        }
    }

    /// AUTH PLAIN (RFC 5034 §4, RFC 4616).
    async fn auth_plain(&mut self, user: &str, password: &Secret) -> Result<(), Pop3Error> {
        let response = Secret::new(auth::plain_response(user, password.expose()));
        self.sasl(Mechanism::Plain, &response).await
    }

    /// Authenticate with an OAuth 2.0 bearer token: SASL XOAUTH2 or OAUTHBEARER (RFC 7628). `host` and `port`
    /// go into the OAUTHBEARER payload (§3.1). The same rules as [`Client::login`] apply: the mechanism must not
    /// be missing from a CAPA SASL list, and nothing goes over an unencrypted link without `allow_plaintext`.
    ///
    /// # Errors
    /// As [`Client::login`]; a refused token whose server sent an error challenge is
    /// [`Pop3Error::BearerRefused`] with the challenge's status and scope.
    ///
    /// # Cancel safety
    /// Not cancel-safe (see [`Client`]).
    pub async fn login_bearer(
        &mut self,
        user: &str,
        token: &Secret,
        method: AuthMethod,
        (host, port): (&str, u16),
        allow_plaintext: bool,
    ) -> Result<(), Pop3Error> {
        self.enter(true)?;
        let r = async {
            if !auth::is_line_safe(user) || !auth::is_line_safe(token.expose()) {
                return Err(Pop3Error::BadCredential);
            }
            let mech = auth::choose(method, &self.caps)?;
            let response = match mech {
                Mechanism::XOAuth2 => sasl::xoauth2(user, token),
                Mechanism::OAuthBearer => sasl::oauthbearer(user, host, port, token),
                Mechanism::UserPass | Mechanism::Plain | Mechanism::Apop => {
                    return Err(Pop3Error::Misuse {
                        what: "login_bearer needs auth = xoauth2 or oauthbearer",
                    });
                }
            };
            if !self.encrypted && !allow_plaintext {
                return Err(Pop3Error::PlaintextRefused);
            }
            self.secrets.add(token);
            self.check_idle("login").await?;
            self.sasl(mech, &response).await
        }
        .await;
        self.leave(r)
    }

    /// One SASL exchange (RFC 5034 §4): the response as an initial response when `AUTH <mech> <b64>` fits in 255
    /// octets, else after the server's empty `+` continuation. That one rule covers the two forms servers use
    /// for XOAUTH2: Office 365's POP3 wants the two-step form, and real bearer tokens (1 to 3 KiB) never fit
    /// in 255 octets anyway. A challenge after the credentials is, for the bearer mechanisms, the error
    /// challenge: answered (RFC 7628 §3.2.3) and reported; for PLAIN it is cancelled with `*`.
    async fn sasl(&mut self, mech: Mechanism, response: &Secret) -> Result<(), Pop3Error> {
        self.secrets.add(response);
        let name = mech.sasl_name();
        if auth::initial_response_fits(name, response.expose()) {
            let line = format!("AUTH {name} {}", response.expose());
            self.send(&line, &format!("AUTH {name} [redacted]"), "auth")
                .await?;
        } else {
            let line = format!("AUTH {name}");
            self.send(&line, &line, "auth").await?;
            match self.read_auth_line().await? {
                AuthLine::Continue(_) => self.send(response.expose(), "[redacted]", "auth").await?,
                AuthLine::Status(st) if !st.ok => {
                    return Err(Pop3Error::Server {
                        command: "AUTH",
                        error: self.server_error(&st),
                    });
                }
                AuthLine::Status(_) => {
                    return Err(Pop3Error::Protocol {
                        what: "auth succeeded before credentials were sent".into(),
                    });
                }
            }
        }
        match self.read_auth_line().await? {
            AuthLine::Status(st) if st.ok => Ok(()),
            AuthLine::Status(st) => Err(Pop3Error::Server {
                command: "AUTH",
                error: self.server_error(&st),
            }),
            AuthLine::Continue(challenge) => {
                let bearer = matches!(mech, Mechanism::XOAuth2 | Mechanism::OAuthBearer);
                let parsed = std::str::from_utf8(&challenge)
                    .ok()
                    .and_then(|c| sasl::parse_challenge(c, &self.secrets));
                match parsed {
                    Some(challenge) if bearer => {
                        let ack = sasl::error_ack(mech == Mechanism::OAuthBearer);
                        self.send(ack, ack, "auth").await?;
                        match self.read_auth_line().await? {
                            AuthLine::Status(st) if !st.ok => Err(Pop3Error::BearerRefused {
                                challenge,
                                error: self.server_error(&st),
                            }),
                            AuthLine::Status(_) => Err(Pop3Error::Protocol {
                                what: "auth succeeded after an error challenge".into(),
                            }),
                            AuthLine::Continue(_) => self.cancel_sasl(name).await,
                        }
                    }
                    _ => self.cancel_sasl(name).await,
                }
            }
        }
    }

    /// Cancel an exchange the client cannot continue (RFC 5034 §4: `*`), then report it.
    async fn cancel_sasl(&mut self, name: &str) -> Result<(), Pop3Error> {
        self.send("*", "*", "auth").await?;
        let _ = self.read_auth_line().await;
        Err(Pop3Error::Protocol {
            what: format!(
                "unexpected sasl challenge after {} credentials",
                name.to_ascii_lowercase()
            ),
        })
    }
}

/// A login refused with `[LOGIN-DELAY]` becomes [`Pop3Error::LoginDelay`], whatever command carried it.
fn login_delay(e: Pop3Error) -> Pop3Error {
    match e {
        Pop3Error::Server { error, .. }
            if error.code == Some(crate::pop3::RespCode::LoginDelay) =>
        {
            Pop3Error::LoginDelay { error }
        }
        e => e,
    }
}
