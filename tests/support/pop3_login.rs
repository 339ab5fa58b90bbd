//! The fake POP3 server's login commands: USER/PASS, AUTH (PLAIN, and XOAUTH2/OAUTHBEARER with
//! [`super::super::bearer`]) and APOP. Split from `pop3_session.rs` to keep each file to one job.

use super::*;

impl Conn {
    pub(super) fn plaintext_refused(&mut self, verb: &str) -> std::io::Result<bool> {
        if self.b.require_tls_for_auth && !self.wire.is_tls() {
            self.reply(
                verb,
                "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n",
            )?;
            return Ok(true);
        }
        Ok(false)
    }

    pub(super) fn user(&mut self, arg: &str) -> std::io::Result<()> {
        if !self.b.user_pass {
            return self.reply("USER", "-ERR USER not supported\r\n");
        }
        if self.plaintext_refused("USER")? {
            return Ok(());
        }
        self.phase = Phase::Authorization {
            user: Some(arg.to_string()),
        };
        self.reply("USER", "+OK\r\n")
    }

    pub(super) fn pass(&mut self, arg: &str) -> std::io::Result<()> {
        let Phase::Authorization { user: Some(user) } = &self.phase else {
            return self.reply("PASS", "-ERR No username given.\r\n");
        };
        let ok = *user == self.b.user && arg == self.b.pass;
        self.phase = Phase::Authorization { user: None };
        self.finish_login("PASS", ok)
    }

    pub(super) fn auth(&mut self, arg: &str) -> std::io::Result<()> {
        let (mech, initial) = match arg.split_once(' ') {
            Some((m, i)) => (m.to_ascii_uppercase(), Some(i.to_string())),
            None => (arg.to_ascii_uppercase(), None),
        };
        let offered = match mech.as_str() {
            "PLAIN" => self.b.sasl_plain,
            "XOAUTH2" | "OAUTHBEARER" => self.b.bearer_token.is_some(),
            _ => false,
        };
        if !offered {
            return self.reply("AUTH", "-ERR Unsupported authentication mechanism.\r\n");
        }
        if self.plaintext_refused("AUTH")? {
            return Ok(());
        }
        let response = match initial {
            Some(i) => i,
            // RFC 5034 §4: empty challenge as "+ ".
            None => self.sasl_round("+ \r\n")?,
        };
        if response == "*" {
            return self.reply("AUTH", "-ERR Authentication aborted\r\n");
        }
        let decoded = if response == "=" {
            Some(Vec::new())
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(response.as_bytes())
                .ok()
        };
        if let Some(token) = self.b.bearer_token.clone().filter(|_| mech != "PLAIN") {
            let ok = decoded.is_some_and(|d| {
                super::super::bearer::accepts(&mech, &d, &self.b.user, &token, self.port)
            });
            if !ok {
                // RFC 7628 §3.2.2: the error challenge; the client's answer is recorded as a command.
                self.sasl_round(&super::super::bearer::error_challenge())?;
            }
            return self.finish_login("AUTH", ok);
        }
        let ok = decoded.is_some_and(|d| {
            let parts: Vec<&[u8]> = d.split(|&b| b == 0).collect();
            parts.len() == 3
                && (parts[0].is_empty() || parts[0] == self.b.user.as_bytes())
                && parts[1] == self.b.user.as_bytes()
                && parts[2] == self.b.pass.as_bytes()
        });
        self.finish_login("AUTH", ok)
    }

    /// Send a SASL continuation and read the client's response line (recorded as a command).
    pub(super) fn sasl_round(&mut self, continuation: &str) -> std::io::Result<String> {
        self.reply("AUTH", continuation)?;
        let line = match self.wire.read_line(READ_LIMIT) {
            Ok(l) => l,
            Err(LineError::Io(e)) => return Err(e),
            Err(_) => return Err(std::io::Error::other("eof in AUTH exchange")),
        };
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        self.session(|s| s.commands.push(text.clone()));
        Ok(text)
    }

    pub(super) fn apop(&mut self, arg: &str) -> std::io::Result<()> {
        let timestamp = self.b.greeting.find('<').and_then(|s| {
            let rest = &self.b.greeting[s..];
            rest.find('>').map(|e| rest[..=e].to_string())
        });
        let (Some(ts), true) = (timestamp, self.b.apop) else {
            return self.reply("APOP", "-ERR APOP not supported\r\n");
        };
        let digest = Md5::digest(format!("{ts}{}", self.b.pass).as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let ok = arg
            .split_once(' ')
            .is_some_and(|(u, d)| u == self.b.user && d == hex);
        self.finish_login("APOP", ok)
    }

    pub(super) fn finish_login(&mut self, verb: &str, ok: bool) -> std::io::Result<()> {
        if let Some(err) = self.b.err_on_pass.clone()
            && self.b.err_on_pass_from.is_none_or(|from| self.idx >= from)
        {
            return self.reply(verb, &format!("{err}\r\n"));
        }
        if !ok {
            return self.reply(verb, "-ERR [AUTH] Authentication failed.\r\n");
        }
        let snapshot = lock(&self.state).mailbox.clone();
        let deleted = vec![false; snapshot.len()];
        self.phase = Phase::Transaction { snapshot, deleted };
        self.session(|s| s.authenticated = true);
        self.reply(verb, "+OK Logged in.\r\n")
    }
}
