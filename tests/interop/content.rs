//! Content: every message arrives exactly once, byte-identical after the documented edits.

use super::*;

pub(crate) fn content_messages() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    v.push((
        "dots".into(),
        simple(
            "dots",
            "",
            ".\r\n..\r\n...\r\n.leading dot\r\n..two leading dots\r\n . space first\r\n\
             a line\r\n.\r\nafter a lone dot\r\n.\r\n",
        ),
    ));
    v.push((
        "utf8".into(),
        simple(
            "utf8",
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\
             X-Raw-Utf8: Grüße aus Köln\r\n",
            "Grüße, 日本語のテキスト, emoji 📬, Ελληνικά.\r\n\u{00e9}t\u{00e9}\r\n",
        ),
    ));
    // ISO-2022-JP: 7-bit with ESC sequences ("日本語" then back to ASCII).
    let mut jp = simple(
        "iso2022jp",
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n",
        "",
    );
    jp.extend_from_slice(b"\x1b$BF|K\\8l\x1b(B text\r\n\x1b$B$3$s$K$A$O\x1b(B\r\n");
    v.push(("iso2022jp".into(), jp));
    // A base64 attachment of all 256 byte values, 76-character lines.
    let mut blob = Vec::new();
    for i in 0..4096u32 {
        blob.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
    }
    let b64 = base64_lines(&blob);
    v.push((
        "base64".into(),
        simple(
            "base64",
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0undary\"\r\n",
            &format!(
                "preamble\r\n--b0undary\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b0undary\r\n\
                 Content-Type: application/octet-stream; name=\"blob.bin\"\r\n\
                 Content-Disposition: attachment; filename=\"blob.bin\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{b64}--b0undary--\r\n"
            ),
        ),
    ));
    // 998-octet lines (RFC 5322 §2.1.1's limit), in the body and as a header field.
    let long = "x".repeat(998);
    let long_header = format!("X-Long: {}\r\n", "h".repeat(998 - "X-Long: ".len()));
    v.push((
        "998".into(),
        simple(
            "998",
            &long_header,
            &format!("{long}\r\n.{}\r\n{long}\r\n", &long[1..]),
        ),
    ));
    // Bare LF line endings (how most Maildir files are stored).
    let lf = String::from_utf8(simple(
        "bare-lf",
        "",
        "line one\r\nline two\r\n.dot\r\n\r\nend\r\n",
    ))
    .expect("utf8")
    .replace("\r\n", "\n");
    v.push(("bare-lf".into(), lf.into_bytes()));
    // 20 MB: base64-looking lines, with a dot-leading line every so often.
    let mut big = simple("big", "", "").to_vec();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    let mut n = 0usize;
    while big.len() < 20 * 1024 * 1024 {
        if n.is_multiple_of(1000) {
            big.extend_from_slice(format!(".dot line {n}\r\n").as_bytes());
        }
        big.extend_from_slice(line);
        n += 1;
    }
    v.push(("big".into(), big));
    v
}

fn base64_lines(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut enc = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                enc.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                enc.push('=');
            }
        }
    }
    let mut out = String::new();
    for l in enc.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(l).expect("ascii"));
        out.push_str("\r\n");
    }
    out
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn p_content_arrives_once_byte_identical() {
    let s = Servers::start("p_content_arrives_once_byte_identical");
    let messages = content_messages();
    s.put(&messages.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
    let run = s.run(&s.config(Tls::Implicit, &s.path("CA_FILE"), ""));
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    s.wait_queue();
    let delivered = s.delivered();
    assert_eq!(delivered.len(), messages.len(), "{}", s.context(&run));
    for (case, original) in &messages {
        let got = strip_added(delivered_case(&delivered, case), "joe@example.test");
        assert_same_bytes(case, &got, &to_lf(original));
    }
    assert!(s.bounces().is_empty(), "{}", s.context(&run));
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
}
