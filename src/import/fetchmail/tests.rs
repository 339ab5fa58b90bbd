//! The parser against the man page's examples and its error positions.

use super::*;

fn str_of(q: &Query, key: &str) -> Option<String> {
    match &q.settings.get(key)?.val {
        Val::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
        other => Some(format!("{other:?}")),
    }
}

#[test]
fn man_page_multi_user_entry() {
    let rc = parse(
        b"poll pop.provider.net proto pop3 port 3111\n\
          \x20    user \"jsmith\" with pass \"secret1\" is \"smith\" here\n\
          \x20    user jones with pass \"secret2\" is \"jjones\" here keep\n",
    )
    .unwrap();
    assert_eq!(rc.queries.len(), 2);
    let (a, b) = (&rc.queries[0], &rc.queries[1]);
    assert_eq!(str_of(a, "user").as_deref(), Some("jsmith"));
    assert_eq!(str_of(a, "service").as_deref(), Some("3111"));
    assert_eq!(str_of(b, "password").as_deref(), Some("secret2"));
    assert!(!a.settings.contains_key("keep"));
    assert_eq!(b.settings["keep"].val, Val::Flag(true));
    assert_eq!((a.user_lines, b.user_lines), ((2, 2), (3, 3)));
    assert_eq!(a.entry_lines, (1, 3));
}

#[test]
fn defaults_fill_only_what_an_entry_leaves_unset() {
    let rc = parse(
        b"defaults proto pop3\n  user \"jsmith\"\npoll pop.provider.net\n  pass \"secret1\"\n\
          poll mail.provider.net\n  user \"jjsmith\" there has password \"secret2\"\n",
    )
    .unwrap();
    assert_eq!(rc.queries.len(), 2);
    assert_eq!(str_of(&rc.queries[0], "user").as_deref(), Some("jsmith"));
    assert!(rc.queries[0].settings["user"].inherited);
    assert_eq!(str_of(&rc.queries[1], "user").as_deref(), Some("jjsmith"));
    assert_eq!(rc.queries[1].defaults_lines, Some((1, 2)));
}

#[test]
fn errors_name_line_and_column() {
    let e = parse(b"poll a user b keep\n  proto pop3\n").unwrap_err();
    assert_eq!((e.line, e.col), (2, 3), "{e:?}");
    assert!(e.message.contains("server option"), "{e:?}");
    let e = parse(b"poll a\n  port pop3s\n").unwrap_err();
    assert_eq!((e.line, e.col), (2, 8));
    let e = parse(b"poll\n").unwrap_err();
    assert_eq!((e.line, e.col), (2, 1));
    let e = parse(b"poll a\ndefaults keep\n").unwrap_err();
    assert_eq!((e.line, e.col), (2, 1));
    let e = parse(b"keep\n").unwrap_err();
    assert_eq!((e.line, e.col), (1, 1));
}

#[test]
fn globals_and_no_flags() {
    let rc = parse(b"set daemon 300\nset no syslog\nset logfile = /tmp/x\npoll a user b nokeep no dropdelivered\n").unwrap();
    assert_eq!(
        rc.globals
            .iter()
            .map(|g| (g.name, g.val.clone()))
            .collect::<Vec<_>>(),
        [
            ("daemon", Val::Num(300)),
            ("syslog", Val::Flag(false)),
            ("logfile", Val::Str(b"/tmp/x".to_vec()))
        ]
    );
    let q = &rc.queries[0];
    assert_eq!(q.settings["keep"].val, Val::Flag(false));
    assert_eq!(q.settings["dropdelivered"].val, Val::Flag(false));
}
