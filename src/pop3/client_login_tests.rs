//! Client login tests (greeting, USER/PASS, AUTH PLAIN, APOP, refusals, secrets in traces) against scripted
//! servers on 127.0.0.1:0 that assert the exact bytes the client sent.

use super::test_server::*;
use super::*;
use crate::config::AuthMethod;
use crate::error::ExitClass;
use crate::pop3::auth;

use Step::{C, Eof, S};

#[tokio::test]
async fn login_user_pass_uidl_list_quit_exact_bytes() {
    let script = |mut p: Peer<_>| async move {
        p.hello("+OK ready", "USER\r\nUIDL\r\n").await;
        p.expect("USER alice").await;
        p.send(b"+OK\r\n").await;
        p.expect("PASS s3cret pass").await;
        p.send(b"+OK logged in\r\n").await;
        p.expect("UIDL").await;
        p.send(b"+OK\r\n1 aaa\r\n2 bbb\r\n.\r\n").await;
        p.expect("LIST").await;
        p.send(b"+OK 2 messages\r\n1 120\r\n2 4000\r\n.\r\n").await;
        p.expect("QUIT").await;
        p.send(b"+OK bye\r\n").await;
        p.eof().await;
    };
    session(script, Dial::plain(), async |mut c| {
        assert!(!c.is_encrypted());
        assert_eq!(c.peer_ip(), Some("127.0.0.1".parse().unwrap()));
        assert!(c.capabilities().user && c.capabilities().uidl && !c.pipelining());
        c.login("alice", &pw("s3cret pass"), AuthMethod::Auto, true)
            .await
            .unwrap();
        assert_eq!(
            c.uidl().await.unwrap(),
            vec![(1, "aaa".into()), (2, "bbb".into())]
        );
        assert_eq!(c.list().await.unwrap(), vec![(1, 120), (2, 4000)]);
        c.quit().await.unwrap();
    })
    .await;
}

/// A login case: the server's script, the credentials, the method, whether a plain link may carry the password,
/// and the error the login must end in (`None`: it must work).
struct Login {
    id: &'static str,
    script: Vec<Step>,
    user: &'static str,
    password: &'static str,
    method: AuthMethod,
    plaintext_ok: bool,
    want: Option<Want>,
}

/// The driver of the login tables. Besides each case's outcome: an error never shows the password.
async fn check_logins(cases: Vec<Login>) {
    for case in cases {
        let (id, want) = (case.id, case.want);
        let (user, password, method) = (case.user, case.password, case.method);
        let result = play(case.script, Dial::plain().case(id), async |mut c| {
            c.login(user, &pw(password), method, case.plaintext_ok)
                .await
        })
        .await;
        match (result, want) {
            (Ok(()), None) => {}
            (Err(e), Some(want)) => {
                want.check(id, &e);
                let shown = format!("{e} {e:?}");
                assert!(!shown.contains(password), "{id}: {shown}");
            }
            (Ok(()), Some(_)) => panic!("{id}: the login worked"),
            (Err(e), None) => panic!("{id}: {e:?}"),
        }
    }
}

#[tokio::test]
async fn t19_logins_send_exact_bytes() {
    let login = |id, script: Vec<Step>, user, password, method| Login {
        id,
        script,
        user,
        password,
        method,
        plaintext_ok: true,
        want: None,
    };
    check_logins(vec![
        login(
            "auth_plain_with_initial_response",
            greet(
                b"+OK ready\r\n",
                b"+OK\r\nSASL SCRAM-SHA-256 PLAIN\r\nUSER\r\n.\r\n",
                &[
                    // base64("\0alice\0s3cret")
                    C("AUTH PLAIN AGFsaWNlAHMzY3JldA=="),
                    S(b"+OK welcome\r\n"),
                    Eof,
                ],
            ),
            "alice",
            "s3cret",
            AuthMethod::Auto,
        ),
        login(
            "t19_apop_login_uses_the_greeting_timestamp",
            greet(
                b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n",
                b"+OK\r\nUSER\r\n.\r\n",
                &[
                    C("APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
                    S(b"+OK maildrop has 1 message\r\n"),
                    Eof,
                ],
            ),
            "mrose",
            "tanstaaf",
            AuthMethod::Apop,
        ),
    ])
    .await;
}

#[tokio::test]
async fn t17_auth_plain_continuation_when_initial_response_too_long() {
    let password = "p".repeat(200);
    let expected = auth::plain_response("alice", &password);
    let script = move |mut p: Peer<_>| async move {
        p.hello("+OK ready", "SASL PLAIN\r\n").await;
        p.expect("AUTH PLAIN").await;
        p.send(b"+ \r\n").await;
        p.expect(&expected).await;
        p.send(b"+OK\r\n").await;
        p.eof().await;
    };
    session(script, Dial::plain(), async |mut c| {
        c.login("alice", &pw(&password), AuthMethod::Plain, true)
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn p05_p11_t15_t19_t20_t24_refused_logins_are_classified_and_scrubbed() {
    // P-11/T-20: a reply to `PASS hunter2`, which the error must not show.
    let pass = |id, reply: &'static [u8], want| Login {
        id,
        script: greet(
            b"+OK ready\r\n",
            b"+OK\r\nUSER\r\n.\r\n",
            &[
                C("USER alice"),
                S(b"+OK\r\n"),
                C("PASS hunter2"),
                S(reply),
                Eof,
            ],
        ),
        user: "alice",
        password: "hunter2",
        method: AuthMethod::User,
        plaintext_ok: true,
        want: Some(want),
    };
    // T-15: no password crosses a plain link without consent, whatever the method; nothing is sent.
    let no_consent = |id, method| Login {
        id,
        script: greet(
            b"+OK ready\r\n",
            b"+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n",
            &[Eof],
        ),
        user: "alice",
        password: "s3cret",
        method,
        plaintext_ok: false,
        want: Some(want!(Security, PlaintextRefused)),
    };
    check_logins(vec![
        pass(
            "p11_pass_in_use_is_tempfail",
            b"-ERR [IN-USE] mailbox locked\r\n",
            want!(TempFail, Server { .. }),
        ),
        pass(
            "p11_pass_sys_perm_is_unavailable",
            b"-ERR [SYS/PERM] account disabled\r\n",
            want!(Unavailable, Server { .. }),
        ),
        pass(
            "p11_t20_pass_auth_is_security_and_scrubbed",
            b"-ERR [AUTH] wrong password hunter2\r\n",
            want!(Security, Server { .. }),
        ),
        pass(
            "p11_pass_bare_err_is_security",
            b"-ERR no\r\n",
            want!(Security, Server { .. }),
        ),
        no_consent("t15_auto_refused_without_consent", AuthMethod::Auto),
        no_consent("t15_user_refused_without_consent", AuthMethod::User),
        no_consent("t15_plain_refused_without_consent", AuthMethod::Plain),
        Login {
            id: "t19_apop_without_timestamp_sends_nothing",
            script: greet(b"+OK ready <garbage>\r\n", b"+OK\r\nUSER\r\n.\r\n", &[Eof]),
            user: "mrose",
            password: "tanstaaf",
            method: AuthMethod::Apop,
            plaintext_ok: true,
            want: Some(want!(Security, NoApopTimestamp)),
        },
        Login {
            id: "t24_credentials_with_line_breaks_are_refused",
            script: greet(b"+OK ready\r\n", b"+OK\r\nUSER\r\n.\r\n", &[Eof]),
            user: "alice",
            password: "x\r\nDELE 1",
            method: AuthMethod::User,
            plaintext_ok: true,
            want: Some(want!(Config, BadCredential)),
        },
        Login {
            id: "p05_unsolicited_data_is_a_protocol_error",
            script: greet(
                b"+OK ready\r\n",
                b"+OK\r\nUSER\r\n.\r\n+OK 2 messages\r\n1 120\r\n.\r\n",
                &[Eof],
            ),
            user: "u",
            password: "s3cret",
            method: AuthMethod::User,
            plaintext_ok: true,
            want: Some(want!(Protocol, Protocol { .. })),
        },
    ])
    .await;
}

#[tokio::test]
async fn p05_p11_p12_bad_greetings_are_refused() {
    check_refused(vec![
        Refused {
            id: "p05_greeting_with_glued_listing_is_refused_before_capa",
            security: Security::None,
            script: vec![
                S(b"+OK ready\r\n+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n"),
                Eof,
            ],
            want: want!(Protocol, Protocol { .. }),
        },
        // The escape sequence is not shown (check_refused).
        Refused {
            id: "p11_greeting_err_sys_perm_is_unavailable",
            security: Security::None,
            script: vec![S(b"-ERR [SYS/PERM] \x1b[31mgone\r\n"), Eof],
            want: want!(Unavailable, Server { .. }),
        },
        Refused {
            id: "p12_imap_greeting_is_a_protocol_error",
            security: Security::None,
            script: vec![S(b"* OK IMAP4rev1 ready\r\n"), Eof],
            want: want!(Protocol, NotStatus { .. }),
        },
    ])
    .await;
}

#[tokio::test]
async fn t20_traces_show_commands_but_never_secrets() {
    // The trace sink is handed to the client (as the poller hands `Trace::log()`): a memory sink sees exactly
    // this client's lines, whatever other tests on other threads log.
    let (trace, kept) = crate::inspect::trace::Trace::memory();
    let traced = || {
        let trace = trace.clone();
        Dial::plain().with(|o| o.trace = trace)
    };
    let b64 = auth::plain_response("alice", "hunter2");
    // AUTH PLAIN; the server echoes the payload and the password back in its -ERR.
    let echo = b64.clone();
    let script = move |mut p: Peer<_>| async move {
        p.hello("+OK ready", "SASL PLAIN\r\n").await;
        p.expect(&format!("AUTH PLAIN {echo}")).await;
        p.send(format!("-ERR [AUTH] bad {echo} hunter2\r\n").as_bytes())
            .await;
        p.eof().await;
    };
    session(script, traced(), async |mut c| {
        let e = c
            .login("alice", &pw("hunter2"), AuthMethod::Auto, true)
            .await
            .unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2") && !format!("{e:?}").contains(&b64));
    })
    .await;
    // USER/PASS with the same echo.
    let script = greet(
        b"+OK ready\r\n",
        b"+OK\r\nUSER\r\n.\r\n",
        &[
            C("USER alice"),
            S(b"+OK\r\n"),
            C("PASS hunter2"),
            S(b"-ERR hunter2 is wrong\r\n"),
            Eof,
        ],
    );
    play(script, traced(), async |mut c| {
        c.login("alice", &pw("hunter2"), AuthMethod::User, true)
            .await
            .unwrap_err();
    })
    .await;
    let log = kept.lock().unwrap().join("\n");
    assert!(log.contains("C: AUTH PLAIN [redacted]"), "{log}");
    assert!(log.contains("C: PASS [redacted]"), "{log}");
    assert!(log.contains("S: -ERR [redacted] is wrong"), "{log}");
    assert!(!log.contains("hunter2") && !log.contains(&b64), "{log}");
}
