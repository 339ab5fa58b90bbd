//! The rig of the end-to-end OAuth tests (`tests/oauth.rs` for the POP3 login, `tests/imap_oauth.rs` for the IMAP
//! destination's): a TLS world, the fake authorization server ([`super::oauth`]) with a certificate of the world's
//! test CA, the `oauth2` config table naming its endpoints, runs of the binary that trust that CA, and the token
//! file a login keeps in the state directory. Each test file adds its constructor (`Rig::new`), its config and its fakes in an `impl` block of its own.

use std::path::PathBuf;

use super::oauth::{CLIENT_ID, FakeAuthServer};
use super::run::{Output, TestConfig, run_popfetch_env, write_private};
use super::world::{World, msgs};

pub struct OAuthRig {
    pub world: World,
    pub auth: FakeAuthServer,
    /// The token file's name in the state directory.
    pub token_name: &'static str,
}

impl OAuthRig {
    /// Two messages on the POP3 fake (implicit TLS) and the fake authorization server; the login under test keeps
    /// its tokens in `token_name` (`isp.oauth2`, `isp.imap-oauth2`).
    pub fn start(token_name: &'static str) -> OAuthRig {
        let world = World::tls(msgs(2));
        let auth = FakeAuthServer::start(world.pki.default_server_config());
        OAuthRig {
            world,
            auth,
            token_name,
        }
    }

    /// The config table `[table]` naming the fake's endpoints, the scopes and the client id (`device`: with the
    /// device endpoint too, so `popfetch auth` uses the device grant).
    pub fn oauth2_table(&self, table: &str, device: bool) -> String {
        let mut text = format!(
            "[{table}]\nauthorization_url = \"{}\"\ntoken_url = \"{}\"\nscopes = [\"mail\", \"offline_access\"]\n\
             client_id = \"{CLIENT_ID}\"\n",
            self.auth.url("authorize"),
            self.auth.url("token"),
        );
        if device {
            text.push_str(&format!(
                "device_authorization_url = \"{}\"\n",
                self.auth.url("device")
            ));
        }
        text
    }

    /// The test CA's file, for `SSL_CERT_FILE`: the binary trusts the fake authorization server through it.
    pub fn ca(&self) -> String {
        self.world.pki.ca_path.display().to_string()
    }

    /// Run the binary with `args` and `SSL_CERT_FILE` set to [`OAuthRig::ca`]; it must not time out.
    pub fn run(&self, cfg: &TestConfig, args: &[&str]) -> Output {
        let out = run_popfetch_env(&cfg.path, args, &[("SSL_CERT_FILE", &self.ca())]);
        assert!(!out.timed_out, "{}", out.all());
        out
    }

    pub fn token_file(&self) -> PathBuf {
        self.world.state.path().join(self.token_name)
    }

    /// Store tokens as `popfetch auth` would, the access token expiring at `expires_at`; returns (access, refresh).
    pub fn seed(&self, expires_at: u64) -> (String, String) {
        let (access, refresh, json) = self.auth.seed_json(expires_at);
        std::fs::create_dir_all(self.world.state.path()).unwrap();
        write_private(&self.token_file(), json.as_bytes());
        (access, refresh)
    }

    /// The token file's content.
    pub fn stored(&self) -> serde_json::Value {
        super::oauth::stored(&self.token_file())
    }
}
