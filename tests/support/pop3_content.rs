//! What the fake POP3 server sends as a message's content: TOP's cut (RFC 1939 §7) and Courier's substitution of a
//! message it will not serve to a client that has not sent `UTF8` (RFC 6856; issue 18).

/// RFC 1939 §7 TOP: the header, the blank line, and the first `k` body lines.
pub(crate) fn top(content: &[u8], k: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut in_body = false;
    let mut body_lines = 0;
    for line in content.split_inclusive(|&b| b == b'\n') {
        if in_body {
            if body_lines == k {
                break;
            }
            body_lines += 1;
        } else if line == b"\r\n" || line == b"\n" {
            in_body = true;
        }
        out.extend_from_slice(line);
    }
    out
}

/// True when the header section (up to the first empty line) holds a byte above 0x7F: what Courier's
/// `RFC2045_ERR8BITHEADER` flags.
pub(crate) fn has_8bit_header(content: &[u8]) -> bool {
    for line in content.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            return false;
        }
        if line.iter().any(|&b| b >= 0x80) {
            return true;
        }
    }
    false
}

/// Courier 1.0's substitute for `content` (pop3dserver.c `MIMEWRAPTXT`): a notice from "Mail Delivery Subsystem"
/// with the original attached, and the size Courier announces for it: the LIST size plus the wrapper's length
/// counted with LF line endings (so the announcement undercounts what is sent, as Courier's does).
pub(crate) fn courier_notice(content: &[u8], listed: usize) -> (usize, Vec<u8>) {
    let b = "=_fake-courier-boundary";
    let head = format!(
        "From: Mail Delivery Subsystem <postmaster>\nSubject: Cannot display Unicode content\nMime-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"{b}\"\n\n\n\n--{b}\nContent-Type: text/plain\n\n\
         This E-mail message was determined to be Unicode-formatted\n\
         but your E-mail reader does not support Unicode E-mail.\n\n\
         The original message is included as a separate attachment\nso that it can be downloaded manually.\n\n\
         --{b}\nContent-Type: message/global\n\n"
    );
    let foot = format!("\n--{b}--\n");
    let announced = listed + head.len() + foot.len();
    let crlf = |s: &str| s.replace('\n', "\r\n").into_bytes();
    let mut out = crlf(&head);
    out.extend_from_slice(content);
    if !content.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend(crlf(&foot));
    (announced, out)
}
