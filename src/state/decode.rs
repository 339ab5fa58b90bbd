//! Decoding a state file (the format is described in [`super::format`]): pure, no I/O.

use std::collections::BTreeMap;

use super::format::{
    DecodeError, Entry, Identity, Journal, MAGIC, Record, Rejection, VERSION, apply, corrupt,
    decode_field,
};

/// Strict unsigned decimal: digits only, no sign, no leading zero unless the number is 0 (one spelling per value).
fn parse_u<T: std::str::FromStr>(field: &[u8]) -> Option<T> {
    let canonical = !field.is_empty()
        && field.iter().all(u8::is_ascii_digit)
        && (field == b"0" || field[0] != b'0');
    if !canonical {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn parse_i64(field: &[u8]) -> Option<i64> {
    // Same canonical spelling rule as `parse_u` for the magnitude; "-0" is not canonical. Parsing the whole
    // field (sign included) keeps i64::MIN, whose magnitude does not fit.
    let magnitude = field.strip_prefix(b"-").unwrap_or(field);
    if (magnitude == b"0" && magnitude.len() != field.len()) || parse_u::<u64>(magnitude).is_none()
    {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn fields_exact<'a>(
    line: &'a [u8],
    n: usize,
    lineno: usize,
    what: &str,
) -> Result<Vec<&'a [u8]>, DecodeError> {
    let fields: Vec<&[u8]> = line.splitn(n + 1, |&b| b == b' ').collect();
    if fields.len() != n {
        return Err(corrupt(
            lineno,
            format!("{what} needs {n} fields, found {}", fields.len()),
        ));
    }
    Ok(fields)
}

fn field(f: &[u8], lineno: usize, what: &str) -> Result<String, DecodeError> {
    decode_field(f).map_err(|why| corrupt(lineno, format!("{what}: {why}")))
}

fn num<T: std::str::FromStr>(f: &[u8], lineno: usize, what: &str) -> Result<T, DecodeError> {
    parse_u(f).ok_or_else(|| corrupt(lineno, format!("{what} is not a valid number")))
}

fn decode_server(line: &[u8], lineno: usize) -> Result<(String, u16), DecodeError> {
    let f = fields_exact(line, 3, lineno, "the server line")?;
    if f[0] != b"server" {
        return Err(corrupt(lineno, "expected the server line"));
    }
    Ok((field(f[1], lineno, "host")?, num(f[2], lineno, "port")?))
}

fn decode_user(line: &[u8], lineno: usize) -> Result<String, DecodeError> {
    let f = fields_exact(line, 2, lineno, "the user line")?;
    if f[0] != b"user" {
        return Err(corrupt(lineno, "expected the user line"));
    }
    field(f[1], lineno, "user")
}

fn decode_version(line: &[u8]) -> Result<u32, DecodeError> {
    let f: Vec<&[u8]> = line.splitn(2, |&b| b == b' ').collect();
    if f[0] != MAGIC.as_bytes() || f.len() != 2 {
        return Err(corrupt(
            1,
            "not a popfetch state file (no \"popfetch-state VERSION\" header)",
        ));
    }
    parse_u(f[1]).ok_or_else(|| corrupt(1, "the format version is not a number"))
}

/// Decode a whole state file (module docs). Pure: the caller adds the path and logs a torn line.
pub fn decode(text: &[u8]) -> Result<Journal, DecodeError> {
    let valid_len = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut lines = text[..valid_len].split(|&b| b == b'\n');
    // `split` yields one empty piece after the final LF; it is not a line.
    let line_count = text[..valid_len].iter().filter(|&&b| b == b'\n').count();
    let torn_line = (valid_len < text.len()).then_some(line_count + 1);
    if line_count == 0 {
        return Err(if text.is_empty() {
            corrupt(1, "the file is empty (no header)")
        } else {
            corrupt(1, "the header is incomplete (no line end)")
        });
    }
    let version = decode_version(lines.next().unwrap_or_default())?;
    if !(1..=VERSION).contains(&version) {
        return Err(DecodeError::UnsupportedVersion { version });
    }
    let missing =
        |n: usize, what: &str| corrupt(n, format!("the header is incomplete: no {what} line"));
    let (host, port) = decode_server(
        lines
            .next()
            .filter(|_| line_count >= 2)
            .ok_or_else(|| missing(2, "server"))?,
        2,
    )?;
    let user = decode_user(
        lines
            .next()
            .filter(|_| line_count >= 3)
            .ok_or_else(|| missing(3, "user"))?,
        3,
    )?;
    let identity = Identity { host, port, user };

    let mut entries = BTreeMap::new();
    for (i, line) in lines.take(line_count - 3).enumerate() {
        let lineno = i + 4;
        decode_body_line(line, lineno, &identity, version, &mut entries)?;
    }
    Ok(Journal {
        identity,
        entries,
        valid_len,
        torn_line,
        version,
    })
}

fn decode_body_line(
    line: &[u8],
    lineno: usize,
    identity: &Identity,
    version: u32,
    entries: &mut BTreeMap<String, Entry>,
) -> Result<(), DecodeError> {
    let tag = line.split(|&b| b == b' ').next().unwrap_or_default();
    match tag {
        b"D" | b"K" | b"B" => {
            let f = fields_exact(line, 3, lineno, "a D, K or B record")?;
            let uid = field(f[1], lineno, "UID")?;
            let absent = num(f[2], lineno, "absent count")?;
            let rec = match tag {
                b"D" => Record::Delivered { uid: &uid, absent },
                b"K" => Record::Kept { uid: &uid, absent },
                _ => Record::Begin { uid: &uid, absent },
            };
            apply(entries, &rec);
        }
        b"P" if version >= 2 => {
            let f = fields_exact(line, 4, lineno, "a P record")?;
            let uid = field(f[1], lineno, "UID")?;
            let absent = num(f[2], lineno, "absent count")?;
            let rcpt = field(f[3], lineno, "recipient")?;
            apply(
                entries,
                &Record::Served {
                    uid: &uid,
                    absent,
                    rcpt: &rcpt,
                },
            );
        }
        b"X" if version >= 2 => {
            let f = fields_exact(line, 7, lineno, "an X record")?;
            let uid = field(f[1], lineno, "UID")?;
            let absent = num(f[2], lineno, "absent count")?;
            let rcpt = field(f[3], lineno, "recipient")?;
            let rejection = decode_rejection(&f[4..], lineno)?;
            apply(
                entries,
                &Record::Refused {
                    uid: &uid,
                    absent,
                    rcpt: &rcpt,
                    rejection: &rejection,
                },
            );
        }
        b"R" => {
            let f = fields_exact(line, 6, lineno, "an R record")?;
            let uid = field(f[1], lineno, "UID")?;
            let absent = num(f[2], lineno, "absent count")?;
            let rejection = decode_rejection(&f[3..], lineno)?;
            apply(
                entries,
                &Record::Rejected {
                    uid: &uid,
                    absent,
                    rejection: &rejection,
                },
            );
        }
        b"A" => {
            let f = fields_exact(line, 2, lineno, "an A record")?;
            let uid = field(f[1], lineno, "UID")?;
            apply(entries, &Record::Abandon { uid: &uid });
        }
        // A repeated header line is tolerated when it says the same thing; a different one means two files were
        // concatenated or edited by hand, and which identity is right cannot be told.
        b"server" => {
            if decode_server(line, lineno)? != (identity.host.clone(), identity.port) {
                return Err(corrupt(lineno, "a second, different server line"));
            }
        }
        b"user" => {
            if decode_user(line, lineno)? != identity.user {
                return Err(corrupt(lineno, "a second, different user line"));
            }
        }
        _ if tag == MAGIC.as_bytes() => {
            if line != format!("{MAGIC} {version}").as_bytes() {
                return Err(corrupt(lineno, "a second, different version line"));
            }
        }
        _ => return Err(corrupt(lineno, "unknown record type")),
    }
    Ok(())
}

/// `<code> <time> <text>` of an `R` or `X` record.
fn decode_rejection(f: &[&[u8]], lineno: usize) -> Result<Rejection, DecodeError> {
    let code = num(f[0], lineno, "reply code")?;
    let unix_time = parse_i64(f[1]).ok_or_else(|| corrupt(lineno, "time is not a valid number"))?;
    Ok(Rejection {
        code,
        text: field(f[2], lineno, "reply text")?,
        unix_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::format::encode_field;

    #[test]
    fn p16_field_table() {
        let ok: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"abc", "abc"),
            (b"%20%25%0a", " %\n"),
            (b"%C3%A9", "é"),
            (b"%7F%00", "\u{7f}\0"),
        ];
        for (enc, dec) in ok {
            assert_eq!(decode_field(enc).as_deref(), Ok(*dec), "{enc:?}");
        }
        let bad: &[&[u8]] = &[
            b"%",
            b"%4",
            b"%G0",
            b"a b",
            b"\t",
            b"\x7f",
            b"\xc3\xa9",
            b"%FF",
            b"%C3",
        ];
        for enc in bad {
            assert!(decode_field(enc).is_err(), "{enc:?}");
        }
        let mut out = Vec::new();
        encode_field(&mut out, b"%41 ");
        assert_eq!(out, b"%2541%20");
    }

    #[test]
    fn numbers_have_one_spelling() {
        assert_eq!(parse_u::<u32>(b"0"), Some(0));
        assert_eq!(parse_u::<u32>(b"4294967295"), Some(u32::MAX));
        for bad in [
            &b""[..],
            b"00",
            b"01",
            b"+1",
            b"-1",
            b" 1",
            b"1 ",
            b"4294967296",
            b"1e3",
        ] {
            assert_eq!(parse_u::<u32>(bad), None, "{bad:?}");
        }
        assert_eq!(parse_i64(b"-9223372036854775807"), Some(-i64::MAX));
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b"--1"), None);
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
    }
}
