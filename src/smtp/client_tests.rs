//! The client against a scripted peer on loopback that asserts every byte it receives: PIPELINING (RFC 2920),
//! CHUNKING (RFC 3030), the HELO fallback (RFC 5321 §3.2), the MAIL parameters, LMTP's per-recipient replies (RFC 2033 §4.2), and that
//! a connection is never reused after an out-of-step reply. One scaffold ([`session`], over `crate::test_peer`)
//! and two case tables: one message over SMTP, one message to several recipients over LMTP.

use super::*;
use crate::test_peer::Step;

use Step::{C, Cb, Eof, S};

/// The end of a session that closes as it should: QUIT answered, then the client closes.
const BYE: [Step; 3] = [C("QUIT"), S(b"221 bye\r\n"), Eof];

/// The script steps of an SMTP greeting, of an EHLO answered with `reply`, then of `then`.
fn ehlo(reply: &'static [u8], then: &[Step]) -> Vec<Step> {
    let hello = [S(b"220 mx.test ESMTP\r\n"), C("EHLO me.test"), S(reply)];
    [&hello[..], then].concat()
}

/// The one scaffold: a peer on 127.0.0.1 runs `script` (from the greeting on) on the connection it accepts, the
/// client opens a `protocol` session to it as `me.test`, and `exchange` gets the session; in the frame of
/// [`crate::test_peer::scripted`] (the peer's assertions fail the test, named by `case`; bounded in time).
async fn session<T>(
    case: &str,
    protocol: Protocol,
    script: Vec<Step>,
    exchange: impl AsyncFnOnce(Mta) -> T,
) -> T {
    traced_session(case, protocol, script, &Trace::log(), exchange).await
}

/// [`session`] with the conversation traced to `trace`.
async fn traced_session<T>(
    case: &str,
    protocol: Protocol,
    script: Vec<Step>,
    trace: &Trace,
    exchange: impl AsyncFnOnce(Mta) -> T,
) -> T {
    crate::test_peer::scripted(
        case,
        move |p| p.run(script),
        async |port| {
            let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let mta = Mta::over(
                Box::new(tcp),
                format!("127.0.0.1:{port}"),
                "me.test",
                Timeouts::default(),
                protocol,
                &Secrets::none(),
                trace,
            )
            .await
            .unwrap_or_else(|e| panic!("{case}: session: {e:?}"));
            exchange(mta).await
        },
    )
    .await
}

/// What one recipient (or the one message) must get: accepted with this reply, or refused with an error that
/// `is` matches and this verdict.
enum Want {
    Accepted(u16, &'static str),
    Refused {
        is: fn(&SmtpError) -> bool,
        verdict: Verdict,
    },
}

/// A [`Want::Refused`]: `refused!(Verdict, Pattern)` is an error matching `Pattern` with verdict `Verdict`.
macro_rules! refused {
    ($verdict:ident, $($pattern:tt)+) => {
        Want::Refused {
            is: |e| matches!(e, $($pattern)+),
            verdict: Verdict::$verdict,
        }
    };
}

impl Want {
    fn check(&self, id: &str, got: &Result<Accepted, SmtpError>) {
        match (self, got) {
            (Want::Accepted(code, text), Ok(a)) => {
                assert_eq!((a.code, a.text.as_str()), (*code, *text), "{id}");
            }
            (Want::Refused { is, verdict }, Err(e)) => {
                assert!(is(e), "{id}: {e:?}");
                assert_eq!(e.verdict(), *verdict, "{id}: {e:?}");
            }
            (_, got) => panic!("{id}: {got:?}"),
        }
    }
}

/// The end of every case: the session is usable or not as `usable` says. One that is not refuses the next message
/// at once, sending nothing (the script then ends with the client closing); a usable one ends with QUIT.
async fn close(id: &str, usable: bool, mut mta: Mta) {
    assert_eq!(mta.is_usable(), usable, "{id}");
    if !usable {
        let again = mta.send(Some("a@b.test"), &["c@d.test"], b"x\r\n").await;
        assert!(
            matches!(again, Err(SmtpError::Unreachable { .. })),
            "{id}: {again:?}"
        );
    }
    mta.quit().await;
}

/// One message over SMTP to `c@d.test`: the MTA's script, the sender and the content, the capabilities the EHLO
/// reply offers, what the delivery gives, and whether the session is still usable after it.
struct Delivery {
    id: &'static str,
    script: Vec<Step>,
    from: Option<&'static str>,
    message: &'static [u8],
    caps: Capabilities,
    want: Want,
    usable: bool,
}

#[tokio::test]
async fn s09_s14_s15_s16_s20_one_message_over_smtp() {
    let cases = vec![
        Delivery {
            id: "S-15 MAIL, RCPT and DATA in one write, the content after the 354",
            script: ehlo(
                b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250 8BITMIME\r\n",
                &[
                    C("MAIL FROM:<a@b.test> SIZE=15 BODY=8BITMIME"),
                    C("RCPT TO:<c@d.test>"),
                    C("DATA"),
                    S(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"),
                    Cb(b"S: \xe9\r\n\r\n..dot\r\nx\r\n.\r\n"),
                    S(b"250 2.0.0 queued\r\n"),
                ],
            ),
            from: Some("a@b.test"),
            message: b"S: \xe9\r\n\r\n.dot\r\nx",
            caps: Capabilities {
                pipelining: true,
                size: true,
                size_limit: Some(100_000),
                eight_bit_mime: true,
                ..Capabilities::default()
            },
            want: Want::Accepted(250, "2.0.0 queued"),
            usable: true,
        },
        Delivery {
            // The UTF-8 header field is declared (RFC 6531 §3.4); the refusal is reset and the session goes on.
            id: "S-15 a pipelined refusal",
            script: ehlo(
                b"250-mx.test\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n",
                &[
                    C("MAIL FROM:<> SMTPUTF8"),
                    C("RCPT TO:<c@d.test>"),
                    C("DATA"),
                    S(b"250 Ok\r\n550 5.7.1 Sender address rejected\r\n554 5.5.1 no valid recipients\r\n"),
                    C("RSET"),
                    S(b"250 Ok\r\n"),
                ],
            ),
            from: None,
            message: "Subject: caf\u{e9}\r\n\r\nx\r\n".as_bytes(),
            caps: Capabilities {
                pipelining: true,
                smtputf8: true,
                ..Capabilities::default()
            },
            want: refused!(
                Rejected,
                SmtpError::Reply {
                    phase: Phase::Rcpt,
                    code: 550,
                    ..
                }
            ),
            usable: true,
        },
        Delivery {
            // Nothing after DATA: no content, no dot, no QUIT.
            id: "S-20 a 354 after a refused envelope",
            script: ehlo(
                b"250-mx.test\r\n250 PIPELINING\r\n",
                &[
                    C("MAIL FROM:<a@b.test>"),
                    C("RCPT TO:<c@d.test>"),
                    C("DATA"),
                    S(b"250 Ok\r\n450 4.2.0 busy\r\n354 go ahead anyway\r\n"),
                    Eof,
                ],
            ),
            from: Some("a@b.test"),
            message: b"x\r\n",
            caps: Capabilities {
                pipelining: true,
                ..Capabilities::default()
            },
            want: refused!(
                Temporary,
                SmtpError::Reply {
                    phase: Phase::Rcpt,
                    code: 450,
                    ..
                }
            ),
            usable: false,
        },
        Delivery {
            id: "S-14 HELO on the same connection when EHLO is refused",
            script: ehlo(
                b"502 5.5.2 not recognized\r\n",
                &[
                    C("HELO me.test"),
                    S(b"250 mx.test\r\n"),
                    C("MAIL FROM:<a@b.test>"),
                    S(b"250 Ok\r\n"),
                    C("RCPT TO:<c@d.test>"),
                    S(b"250 Ok\r\n"),
                    C("DATA"),
                    S(b"354 go\r\n"),
                    Cb(b"\xff\r\n.\r\n"),
                    S(b"250 queued\r\n"),
                ],
            ),
            from: Some("a@b.test"),
            message: b"\xff\r\n",
            caps: Capabilities::default(),
            want: Want::Accepted(250, "queued"),
            usable: true,
        },
        Delivery {
            id: "S-09 a garbled reply poisons the connection",
            script: ehlo(
                b"250 mx.test\r\n",
                &[C("MAIL FROM:<a@b.test>"), S(b"250ok\r\n"), Eof],
            ),
            from: Some("a@b.test"),
            message: b"x\r\n",
            caps: Capabilities::default(),
            want: refused!(
                Temporary,
                SmtpError::Garbled {
                    phase: Phase::Mail,
                    ..
                }
            ),
            usable: false,
        },
        Delivery {
            // RFC 3030: MAIL and RCPT pipelined, then the whole message as one counted chunk after their replies
            // (never in the same write: docs/decisions.md). No dot-stuffing, no end line; the open last line is
            // closed with CRLF as over DATA (its 2 octets are counted).
            id: "S-10 S-15 CHUNKING: one BDAT LAST chunk after the envelope's replies",
            script: ehlo(
                b"250-mx.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n",
                &[
                    C("MAIL FROM:<a@b.test> BODY=8BITMIME"),
                    C("RCPT TO:<c@d.test>"),
                    S(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),
                    Cb(b"BDAT 20 LAST\r\nS: \xe9\r\n\r\n.dot\r\n.\r\nx\r\n"),
                    S(b"250 2.0.0 Ok: 20 bytes queued\r\n"),
                ],
            ),
            from: Some("a@b.test"),
            message: b"S: \xe9\r\n\r\n.dot\r\n.\r\nx",
            caps: Capabilities {
                pipelining: true,
                chunking: true,
                eight_bit_mime: true,
                ..Capabilities::default()
            },
            want: Want::Accepted(250, "2.0.0 Ok: 20 bytes queued"),
            usable: true,
        },
        Delivery {
            // Without PIPELINING each command waits for its reply; an empty message is the empty chunk.
            id: "S-14 CHUNKING without PIPELINING, an empty message",
            script: ehlo(
                b"250-mx.test\r\n250 CHUNKING\r\n",
                &[
                    C("MAIL FROM:<a@b.test>"),
                    S(b"250 Ok\r\n"),
                    C("RCPT TO:<c@d.test>"),
                    S(b"250 Ok\r\n"),
                    Cb(b"BDAT 0 LAST\r\n"),
                    S(b"250 queued\r\n"),
                ],
            ),
            from: Some("a@b.test"),
            message: b"",
            caps: Capabilities {
                chunking: true,
                ..Capabilities::default()
            },
            want: Want::Accepted(250, "queued"),
            usable: true,
        },
        Delivery {
            // A refused recipient: RSET, and the content is never sent.
            id: "S-15 CHUNKING: a refused envelope sends no chunk",
            script: ehlo(
                b"250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
                &[
                    C("MAIL FROM:<a@b.test>"),
                    C("RCPT TO:<c@d.test>"),
                    S(b"250 Ok\r\n550 5.1.1 unknown\r\n"),
                    C("RSET"),
                    S(b"250 Ok\r\n"),
                ],
            ),
            from: Some("a@b.test"),
            message: b"x\r\n",
            caps: Capabilities {
                pipelining: true,
                chunking: true,
                ..Capabilities::default()
            },
            want: refused!(
                Misconfigured,
                SmtpError::Reply {
                    phase: Phase::Rcpt,
                    code: 550,
                    ..
                }
            ),
            usable: true,
        },
        Delivery {
            // The refusal of the last chunk is the refusal of the message, as at the end of data; the chunk was
            // consumed, and RSET ends the failed transaction (RFC 3030 §2), so the session goes on.
            id: "S-02 CHUNKING: a refusal of the last chunk",
            script: ehlo(
                b"250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
                &[
                    C("MAIL FROM:<a@b.test>"),
                    C("RCPT TO:<c@d.test>"),
                    S(b"250 Ok\r\n250 Ok\r\n"),
                    Cb(b"BDAT 3 LAST\r\nx\r\n"),
                    S(b"550 5.7.1 Error: message content rejected\r\n"),
                    C("RSET"),
                    S(b"250 Ok\r\n"),
                ],
            ),
            from: Some("a@b.test"),
            message: b"x\r\n",
            caps: Capabilities {
                pipelining: true,
                chunking: true,
                ..Capabilities::default()
            },
            want: refused!(
                Rejected,
                SmtpError::Reply {
                    phase: Phase::EndOfData,
                    code: 550,
                    ..
                }
            ),
            usable: true,
        },
        Delivery {
            // A local address problem (issue 10), not an MTA reply: nothing is sent.
            id: "S-16 a bad address is refused before anything is sent",
            script: ehlo(b"250 mx.test\r\n", &[]),
            from: Some("a@b.test>\r\nRCPT TO:<x@evil.test"),
            message: b"x\r\n",
            caps: Capabilities::default(),
            want: refused!(
                Misconfigured,
                SmtpError::Address {
                    role: AddressRole::Sender,
                    ..
                }
            ),
            usable: true,
        },
    ];
    for mut case in cases {
        let id = case.id;
        if case.usable {
            case.script.extend(BYE);
        }
        session(id, Protocol::Smtp, case.script, async |mut mta| {
            assert_eq!(mta.capabilities(), &case.caps, "{id}");
            assert_eq!(mta.size_limit(), case.caps.size_limit, "{id}");
            let envelope = Envelope {
                from: case.from.map(Into::into),
                to: "c@d.test".into(),
            };
            case.want
                .check(id, &mta.deliver(&envelope, case.message).await);
            close(id, case.usable, mta).await;
        })
        .await;
    }
}

/// One message from `a@b.test` to several recipients over LMTP: the server's script, the recipients, what each
/// gets, and whether the session is still usable after it.
struct LmtpCase {
    id: &'static str,
    script: Vec<Step>,
    rcpts: &'static [&'static str],
    want: Vec<Want>,
    usable: bool,
}

/// Three recipients over LMTP, the second refused at RCPT, the third after the content: `lhlo` is the LHLO reply,
/// `content` the script from the RCPTs' end through the content (DATA and its 354, or the chunk).
fn mixed_replies(id: &'static str, lhlo: &'static [u8], content: Vec<Step>) -> LmtpCase {
    let mut script = vec![
        S(b"220 lmtp.test LMTP\r\n"),
        C("LHLO me.test"),
        S(lhlo),
        C("MAIL FROM:<a@b.test>"),
        C("RCPT TO:<u1@d.test>"),
        C("RCPT TO:<nobody@d.test>"),
        C("RCPT TO:<u3@d.test>"),
    ];
    script.extend(content);
    script.extend([
        S(b"250 2.0.0 <u1@d.test> Saved\r\n452 4.2.2 <u3@d.test> Quota exceeded\r\n"),
        C("QUIT"),
        S(b"221 bye\r\n"),
        Eof,
    ]);
    LmtpCase {
        id,
        script,
        rcpts: &["u1@d.test", "nobody@d.test", "u3@d.test"],
        want: vec![
            Want::Accepted(250, "2.0.0 <u1@d.test> Saved"),
            refused!(
                Misconfigured,
                SmtpError::Reply {
                    phase: Phase::Rcpt,
                    code: 550,
                    ..
                }
            ),
            refused!(
                Temporary,
                SmtpError::Reply {
                    phase: Phase::EndOfData,
                    code: 452,
                    ..
                }
            ),
        ],
        usable: true,
    }
}

#[tokio::test]
async fn lmtp_one_reply_per_accepted_recipient_after_the_end_of_data() {
    let cases = vec![
        mixed_replies(
            "LMTP (RFC 2033 §4.2): mixed replies at RCPT and after the end of data",
            b"250-lmtp.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n",
            vec![
                C("DATA"),
                S(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 User unknown\r\n250 2.1.5 Ok\r\n354 go\r\n"),
                Cb(b"Subject: x\r\n\r\nbody\r\n.\r\n"),
            ],
        ),
        mixed_replies(
            "LMTP with CHUNKING: one reply per accepted recipient after BDAT LAST (as Dovecot answers)",
            b"250-lmtp.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
            vec![
                S(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 User unknown\r\n250 2.1.5 Ok\r\n"),
                Cb(b"BDAT 20 LAST\r\nSubject: x\r\n\r\nbody\r\n"),
            ],
        ),
        LmtpCase {
            // Issue 15: the server stops after answering for the first recipient. That answer stands (the recipient
            // is served and must not get the message again); the other has no clear answer, and the connection is
            // never used again.
            id: "S-07 over LMTP: answers given before the server stopped stand",
            script: vec![
                S(b"220 lmtp.test LMTP\r\n"),
                C("LHLO me.test"),
                S(b"250 lmtp.test\r\n"),
                C("MAIL FROM:<a@b.test>"),
                S(b"250 2.1.0 Ok\r\n"),
                C("RCPT TO:<u1@d.test>"),
                S(b"250 2.1.5 Ok\r\n"),
                C("RCPT TO:<u2@d.test>"),
                S(b"250 2.1.5 Ok\r\n"),
                C("DATA"),
                S(b"354 go\r\n"),
                Cb(b"Subject: x\r\n\r\nbody\r\n.\r\n"),
                S(b"250 2.0.0 <u1@d.test> Saved\r\n"),
            ],
            rcpts: &["u1@d.test", "u2@d.test"],
            want: vec![
                Want::Accepted(250, "2.0.0 <u1@d.test> Saved"),
                refused!(Temporary, e if e.phase() == Phase::EndOfData),
            ],
            usable: false,
        },
    ];
    for case in cases {
        let id = case.id;
        session(id, Protocol::Lmtp, case.script, async |mut mta| {
            let per = mta
                .send(Some("a@b.test"), case.rcpts, b"Subject: x\r\n\r\nbody\r\n")
                .await
                .unwrap_or_else(|e| panic!("{id}: {e:?}"));
            assert_eq!(per.len(), case.want.len(), "{id}");
            for (want, got) in case.want.iter().zip(&per) {
                want.check(id, got);
            }
            close(id, case.usable, mta).await;
        })
        .await;
    }
}

/// The `-vv` trace of a chunk shows the command, then the content as over DATA (header lines, the body's size),
/// and no end-of-data line: a chunk has none.
#[tokio::test]
async fn s15_the_trace_of_a_bdat_chunk() {
    let (trace, lines) = Trace::memory();
    let script = ehlo(
        b"250-mx.test\r\n250 CHUNKING\r\n",
        &[
            C("MAIL FROM:<a@b.test>"),
            S(b"250 Ok\r\n"),
            C("RCPT TO:<c@d.test>"),
            S(b"250 Ok\r\n"),
            Cb(b"BDAT 20 LAST\r\nSubject: x\r\n\r\nbody\r\n"),
            S(b"250 queued\r\n"),
        ],
    );
    traced_session(
        "trace of BDAT",
        Protocol::Smtp,
        script,
        &trace,
        async |mut mta| {
            let envelope = Envelope {
                from: Some("a@b.test".into()),
                to: "c@d.test".into(),
            };
            mta.deliver(&envelope, b"Subject: x\r\n\r\nbody\r\n")
                .await
                .unwrap();
        },
    )
    .await;
    let lines = lines.lock().unwrap().clone();
    let from = lines
        .iter()
        .position(|l| l == "smtp C: RCPT TO:<c@d.test>")
        .expect("RCPT traced");
    assert_eq!(
        lines.get(from + 1..from + 6).unwrap_or_default(),
        [
            "smtp S: 250 Ok",
            "smtp C: BDAT 20 LAST",
            "smtp C: Subject: x",
            "smtp C: [... 6 body bytes elided]",
            "smtp S: 250 queued",
        ],
        "{lines:#?}"
    );
}
