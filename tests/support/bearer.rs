//! What the fake POP3 server checks in an XOAUTH2 or OAUTHBEARER response, and the error challenge it sends for
//! a refused token (RFC 7628 §3.2.2, in the JSON shape Google also uses for XOAUTH2).

use base64::Engine;

/// The scope the fake names in its error challenge.
pub const CHALLENGE_SCOPE: &str = "https://mail.example.test/";

/// True when `decoded` is exactly the payload popfetch must send for `user` and `token`.
pub fn accepts(mech: &str, decoded: &[u8], user: &str, token: &str, port: u16) -> bool {
    let want = match mech {
        "XOAUTH2" => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
        "OAUTHBEARER" => {
            format!("n,a={user},\x01host=127.0.0.1\x01port={port}\x01auth=Bearer {token}\x01\x01")
        }
        _ => return false,
    };
    decoded == want.as_bytes()
}

/// `+ base64({"status":"invalid_token","scope":…})` CRLF.
pub fn error_challenge() -> String {
    let json = format!(r#"{{"status":"invalid_token","scope":"{CHALLENGE_SCOPE}"}}"#);
    format!(
        "+ {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}
