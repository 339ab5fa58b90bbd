//! What an EHLO or LHLO reply offers (RFC 5321 §4.1.1.1: the first line is the server's name, each further line a
//! keyword and its parameters). Pure; only the extensions popfetch uses are kept, every other keyword is ignored.
//!
//! Own code rather than `smtp-proto`'s EHLO parser: it is some 40 lines over the reply codec's lines, it keeps
//! `SIZE`'s edge cases exactly as catalog S-13 pins them (0, missing or non-numeric means no limit), and it needs
//! no second reply type beside [`super::reply::Reply`].

use super::reply::Reply;

/// The extensions popfetch may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The SIZE limit (RFC 1870 §4); `None` when SIZE is not offered, offered without a number or with 0
    /// ("no fixed maximum"), or with a parameter that is not a decimal number.
    pub size_limit: Option<u64>,
    /// SIZE is offered at all (then `SIZE=` may be declared at MAIL).
    pub size: bool,
    /// RFC 6152.
    pub eight_bit_mime: bool,
    /// RFC 6531.
    pub smtputf8: bool,
    /// RFC 2920.
    pub pipelining: bool,
    /// RFC 3030: a message in hand goes as one `BDAT n LAST` chunk (docs/decisions.md "Own SMTP client").
    pub chunking: bool,
}

impl Capabilities {
    /// Read the capabilities from a positive EHLO/LHLO reply. A HELO reply offers nothing: use the default.
    pub fn parse(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let Ok(text) = std::str::from_utf8(line) else {
                continue;
            };
            let mut words = text.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "SIZE" => {
                    caps.size = true;
                    caps.size_limit = words
                        .next()
                        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|n| n.parse::<u64>().ok())
                        .filter(|&n| n > 0);
                }
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "PIPELINING" => caps.pipelining = true,
                "CHUNKING" => caps.chunking = true,
                _ => {}
            }
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::reply::parse_reply;

    fn caps(wire: impl AsRef<[u8]>) -> Capabilities {
        let (reply, _) = parse_reply(wire.as_ref()).unwrap().unwrap();
        Capabilities::parse(&reply)
    }

    #[test]
    fn s13_size_limit_from_the_ehlo_reply() {
        let reply = |kw: &str| {
            caps(format!(
                "250-mx.test\r\n250-PIPELINING\r\n{kw}\r\n250 8BITMIME\r\n"
            ))
        };
        assert_eq!(reply("250-SIZE 10240000").size_limit, Some(10_240_000));
        assert_eq!(reply("250-size 1000").size_limit, Some(1000));
        // 0 and a bare SIZE: no fixed maximum, but SIZE= may still be declared.
        assert_eq!(reply("250-SIZE 0").size_limit, None);
        assert!(reply("250-SIZE 0").size);
        assert_eq!(reply("250-SIZE").size_limit, None);
        // Garbage and overflow: ignored, never a wrong limit.
        assert_eq!(reply("250-SIZE 12k").size_limit, None);
        assert_eq!(reply("250-SIZE -5").size_limit, None);
        assert_eq!(reply("250-SIZE 99999999999999999999999").size_limit, None);
        assert_eq!(
            reply("250-SIZEX 100"),
            caps("250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        );
        // The domain line is not a keyword; the last line is.
        assert_eq!(caps("250-SIZE 5\r\n250 AUTH\r\n").size_limit, None);
        assert_eq!(caps("250-x\r\n250 SIZE 4096\r\n").size_limit, Some(4096));
        assert_eq!(caps("250 x\r\n"), Capabilities::default());
    }

    #[test]
    fn s14_s15_extensions() {
        let c = caps(
            b"250-mx.test\r\n250-pipelining\r\n250-SIZE 0\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n\
             250-\xff\r\n250-\r\n250 ENHANCEDSTATUSCODES\r\n",
        );
        assert!(c.pipelining && c.eight_bit_mime && c.smtputf8 && c.chunking && c.size);
        let c = caps("250-mx.test\r\n250 ENHANCEDSTATUSCODES\r\n");
        assert!(!c.pipelining && !c.eight_bit_mime && !c.smtputf8 && !c.chunking && !c.size);
    }
}
