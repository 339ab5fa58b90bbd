//! A fake OAuth 2.0 authorization server on 127.0.0.1 for the issue-13 tests: token endpoint (refresh,
//! authorization code with PKCE S256, device code), device authorization endpoint (RFC 8628) and an RFC 7662
//! introspection endpoint (for the real Dovecot's `passdb oauth2`). HTTPS with the test CA for popfetch, and the
//! same endpoints on a second, plain-HTTP port for Dovecot. Every request is recorded; behaviour is switched
//! between runs (rotation, `invalid_grant`, 5xx, slow answers, device approval after N polls).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio_rustls::rustls::{ServerConfig, ServerConnection, StreamOwned};

/// A token file's content.
pub fn stored(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Fails when a token (as such or inside any base64 payload) shows in `text`.
pub fn assert_no_token(text: &str, tokens: &[&str]) {
    for t in tokens {
        assert!(!text.contains(t), "token {t:?} leaked:\n{text}");
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Form fields of a POST body, or the query of a GET.
    pub form: HashMap<String, String>,
}

/// How the fake answers; changed with [`FakeAuthServer::update`].
#[derive(Debug, Clone)]
pub struct AuthBehavior {
    /// `expires_in` of issued access tokens.
    pub expires_in: u64,
    /// Issue a new refresh token on every refresh (and invalidate the old one).
    pub rotate: bool,
    /// Answer every token request with this HTTP status and body instead (e.g. 503).
    pub token_status: Option<(u16, String)>,
    /// Sleep this long before answering any request.
    pub delay: Option<Duration>,
    /// Device grant: answer `authorization_pending` this many times, then issue tokens.
    pub device_pending: usize,
    /// Device grant: answer `access_denied` instead of issuing tokens.
    pub device_denied: bool,
    /// Length of issued access tokens (padded with `x`), to exercise the two-step SASL form.
    pub access_len: usize,
    /// Omit `refresh_token` from first grants.
    pub no_refresh_token: bool,
    /// The `username` the introspection endpoint reports for an active token.
    pub username: String,
}

impl Default for AuthBehavior {
    fn default() -> Self {
        AuthBehavior {
            expires_in: 3600,
            rotate: false,
            token_status: None,
            delay: None,
            device_pending: 1,
            device_denied: false,
            access_len: 0,
            no_refresh_token: false,
            username: "alice".to_owned(),
        }
    }
}

#[derive(Default)]
struct State {
    behavior: AuthBehavior,
    requests: Vec<Request>,
    counter: u64,
    /// Valid refresh tokens.
    refresh: Vec<String>,
    /// Access token → expiry (Unix seconds).
    access: HashMap<String, u64>,
    /// Authorization code → (code_challenge, redirect_uri).
    codes: HashMap<String, (String, String)>,
    device_polls: usize,
}

/// The fake server. Stops accepting when dropped (its threads end with the test process).
pub struct FakeAuthServer {
    state: Arc<Mutex<State>>,
    tls_port: u16,
    plain_port: u16,
}

pub const CLIENT_ID: &str = "popfetch-test-client";
pub const USER_CODE: &str = "WDJB-MJHT";
pub const DEVICE_CODE: &str = "device-code-secret-1";

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeAuthServer {
    pub fn start(tls: Arc<ServerConfig>) -> FakeAuthServer {
        let state = Arc::new(Mutex::new(State::default()));
        let tls_l = TcpListener::bind("127.0.0.1:0").unwrap();
        let plain_l = TcpListener::bind("127.0.0.1:0").unwrap();
        let (tls_port, plain_port) = (
            tls_l.local_addr().unwrap().port(),
            plain_l.local_addr().unwrap().port(),
        );
        for (l, tls) in [(tls_l, Some(tls)), (plain_l, None)] {
            let state = state.clone();
            std::thread::spawn(move || {
                for conn in l.incoming().flatten() {
                    let (state, tls) = (state.clone(), tls.clone());
                    std::thread::spawn(move || serve(conn, tls, &state, tls_port));
                }
            });
        }
        FakeAuthServer {
            state,
            tls_port,
            plain_port,
        }
    }

    /// `https://127.0.0.1:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/{path}", self.tls_port)
    }

    /// The introspection endpoint over plain HTTP, for Dovecot.
    pub fn introspection_url(&self) -> String {
        format!("http://127.0.0.1:{}/introspect", self.plain_port)
    }

    pub fn update(&self, f: impl FnOnce(&mut AuthBehavior)) {
        f(&mut lock(&self.state).behavior);
    }

    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state).requests.clone()
    }

    /// Token requests with this grant type.
    pub fn grants(&self, grant_type: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r.path == "/token"
                    && r.form.get("grant_type").map(String::as_str) == Some(grant_type)
            })
            .collect()
    }

    /// Mint tokens as a first grant would, without a flow (for tests that start authorized).
    pub fn seed(&self) -> (String, String) {
        let mut st = lock(&self.state);
        let (a, r, _) = issue(&mut st, true);
        (a, r.unwrap())
    }

    /// Mint tokens as [`FakeAuthServer::seed`] and the token file `popfetch auth` would write for them, the access
    /// token expiring at `expires_at` (Unix seconds). Returns (access, refresh, file content).
    pub fn seed_json(&self, expires_at: u64) -> (String, String, String) {
        let (access, refresh) = self.seed();
        let json = format!(
            "{{\"version\":1,\"token_url\":\"{}\",\"client_id\":\"{CLIENT_ID}\",\"refresh_token\":\"{refresh}\",\"access_token\":\"{access}\",\"expires_at\":{expires_at}}}\n",
            self.url("token")
        );
        (access, refresh, json)
    }

    /// The access token the next grant will issue (tokens are numbered), so a POP3 fake can expect it.
    pub fn next_access(&self) -> String {
        let st = lock(&self.state);
        access_name(st.counter + 1, st.behavior.access_len)
    }

    /// Revoke every refresh token (the user changed the password, or revoked the app).
    pub fn revoke_all(&self) {
        lock(&self.state).refresh.clear();
    }

    /// Make an access token invalid for introspection (as if it had expired).
    pub fn expire_access(&self, token: &str) {
        lock(&self.state).access.insert(token.to_owned(), 0);
    }

    pub fn valid_refresh_tokens(&self) -> Vec<String> {
        lock(&self.state).refresh.clone()
    }

    /// The user approving in the browser: a code bound to the PKCE challenge and redirect URI of the
    /// authorization request URL popfetch printed. Returns the code.
    pub fn approve(&self, authorization_url: &str) -> String {
        let query = authorization_url.split_once('?').expect("query").1;
        let q: HashMap<String, String> = form_urlencoded(query);
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], CLIENT_ID);
        assert_eq!(q["code_challenge_method"], "S256");
        let mut st = lock(&self.state);
        st.counter += 1;
        let code = format!("auth-code-{}", st.counter);
        st.codes.insert(
            code.clone(),
            (q["code_challenge"].clone(), q["redirect_uri"].clone()),
        );
        code
    }
}

pub fn form_urlencoded(s: &str) -> HashMap<String, String> {
    url_decode_pairs(s)
}

fn url_decode_pairs(s: &str) -> HashMap<String, String> {
    let dec = |v: &str| {
        let v = v.replace('+', " ");
        let mut out = Vec::new();
        let b = v.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && i + 2 < b.len()
                && let Ok(x) = u8::from_str_radix(&v[i + 1..i + 3], 16)
            {
                out.push(x);
                i += 3;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

/// Issue an access token (and a refresh token when `with_refresh`).
fn issue(st: &mut State, with_refresh: bool) -> (String, Option<String>, u64) {
    st.counter += 1;
    let access = access_name(st.counter, st.behavior.access_len);
    let exp = now() + st.behavior.expires_in;
    st.access.insert(access.clone(), exp);
    let refresh = with_refresh.then(|| {
        let r = format!("rt-{}", st.counter);
        st.refresh.push(r.clone());
        r
    });
    (access, refresh, st.behavior.expires_in)
}

fn access_name(n: u64, len: usize) -> String {
    let mut access = format!("at-{n}-");
    while access.len() < len {
        access.push('x');
    }
    access
}

fn token_json(access: &str, refresh: Option<&str>, expires_in: u64) -> String {
    match refresh {
        Some(r) => format!(
            r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{expires_in},"refresh_token":"{r}"}}"#
        ),
        None => format!(
            r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{expires_in}}}"#
        ),
    }
}

fn oauth_error(code: &str) -> (u16, String) {
    (
        400,
        format!(r#"{{"error":"{code}","error_description":"fake says {code}"}}"#),
    )
}

fn serve(tcp: TcpStream, tls: Option<Arc<ServerConfig>>, state: &Mutex<State>, tls_port: u16) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    match tls {
        Some(cfg) => {
            let Ok(conn) = ServerConnection::new(cfg) else {
                return;
            };
            let mut s = StreamOwned::new(conn, tcp);
            handle(&mut s, state, tls_port);
        }
        None => {
            let mut s = tcp;
            handle(&mut s, state, tls_port);
        }
    }
}

fn handle(s: &mut (impl Read + Write), state: &Mutex<State>, tls_port: u16) {
    let Some(req) = read_request(s) else { return };
    let delay = {
        let mut st = lock(state);
        st.requests.push(req.clone());
        st.behavior.delay
    };
    if let Some(d) = delay {
        std::thread::sleep(d);
    }
    let (status, body) = respond(&req, state, tls_port);
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Status",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(resp.as_bytes());
    let _ = s.flush();
}

fn read_request(s: &mut impl Read) -> Option<Request> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut tmp).ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let len: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut tmp).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
    let form = if method == "POST" {
        url_decode_pairs(&body)
    } else {
        url_decode_pairs(query)
    };
    Some(Request {
        method,
        path: path.to_owned(),
        form,
    })
}

fn respond(req: &Request, state: &Mutex<State>, tls_port: u16) -> (u16, String) {
    let mut st = lock(state);
    let f = &req.form;
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/device") => {
            if get("client_id") != CLIENT_ID {
                return oauth_error("invalid_client");
            }
            st.device_polls = 0;
            (
                200,
                format!(
                    r#"{{"device_code":"{DEVICE_CODE}","user_code":"{USER_CODE}","verification_uri":"https://127.0.0.1:{tls_port}/verify","expires_in":60,"interval":1}}"#
                ),
            )
        }
        ("POST", "/introspect") => {
            // RFC 7662 §2.2.
            let active = st.access.get(get("token")).is_some_and(|exp| *exp > now());
            if active {
                (
                    200,
                    format!(
                        r#"{{"active":true,"username":"{}","scope":"mail"}}"#,
                        st.behavior.username
                    ),
                )
            } else {
                (200, r#"{"active":false}"#.to_owned())
            }
        }
        ("POST", "/token") => {
            if let Some((status, body)) = st.behavior.token_status.clone() {
                return (status, body);
            }
            if get("client_id") != CLIENT_ID {
                return oauth_error("invalid_client");
            }
            match get("grant_type") {
                "refresh_token" => {
                    let rt = get("refresh_token").to_owned();
                    if !st.refresh.contains(&rt) {
                        return oauth_error("invalid_grant");
                    }
                    let rotate = st.behavior.rotate;
                    if rotate {
                        st.refresh.retain(|r| *r != rt);
                    }
                    let (a, r, e) = issue(&mut st, rotate);
                    (200, token_json(&a, r.as_deref(), e))
                }
                "authorization_code" => {
                    let Some((challenge, redirect)) = st.codes.remove(get("code")) else {
                        return oauth_error("invalid_grant");
                    };
                    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(Sha256::digest(get("code_verifier").as_bytes()));
                    if computed != challenge || redirect != get("redirect_uri") {
                        return oauth_error("invalid_grant");
                    }
                    let with_refresh = !st.behavior.no_refresh_token;
                    let (a, r, e) = issue(&mut st, with_refresh);
                    (200, token_json(&a, r.as_deref(), e))
                }
                "urn:ietf:params:oauth:grant-type:device_code" => {
                    if get("device_code") != DEVICE_CODE {
                        return oauth_error("invalid_grant");
                    }
                    st.device_polls += 1;
                    if st.device_polls <= st.behavior.device_pending {
                        return oauth_error("authorization_pending");
                    }
                    if st.behavior.device_denied {
                        return oauth_error("access_denied");
                    }
                    let with_refresh = !st.behavior.no_refresh_token;
                    let (a, r, e) = issue(&mut st, with_refresh);
                    (200, token_json(&a, r.as_deref(), e))
                }
                _ => oauth_error("unsupported_grant_type"),
            }
        }
        _ => (404, r#"{"error":"not_found"}"#.to_owned()),
    }
}
