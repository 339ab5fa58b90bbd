//! getmail and mpop conversions: what each setting becomes, and that the result passes popfetch's own check.

use super::render::{Passwords, render};
use super::{Invoker, Plan, getmailrc, mpoprc};

fn who() -> Invoker {
    Invoker {
        login: "joe".into(),
    }
}

/// The rendered text, after asserting it is a configuration popfetch accepts.
fn checked(plan: &Plan) -> String {
    let r = render(plan, Passwords::Files);
    crate::config::parse_str(&r.text, std::path::Path::new("/tmp/c.toml"))
        .unwrap_or_else(|e| panic!("does not pass check:\n{e}\n{}", r.text));
    r.text
}

#[test]
fn getmail_ssl_retriever_with_maildir() {
    let rc = b"[retriever]\ntype = SimplePOP3SSLRetriever\nserver = pop.example.net\nusername = jeff\n\
               password = mail-secret\nport = 995\n\n[destination]\ntype = Maildir\npath = ~/Maildir/\n\n\
               [options]\nverbose = 0\nread_all = false\n";
    let plan = getmailrc::plan(rc, "getmailrc x", &who()).unwrap();
    let text = checked(&plan);
    assert!(text.contains("name = \"pop.example.net-jeff\""), "{text}");
    assert!(text.contains("tls = \"implicit\"\n"), "{text}");
    assert!(
        text.contains("password_file = \"pop.example.net-jeff.password\""),
        "{text}"
    );
    assert!(text.contains("target = \"joe@localhost\""), "{text}");
    // getmail's default is delete = false.
    assert!(text.contains("keep = true"), "{text}");
    assert!(text.contains("destination Maildir ~/Maildir/"), "{text}");
    assert!(text.contains("[options] verbose = 0"), "{text}");
    assert!(!text.contains("mail-secret"), "{text}");
}

#[test]
fn getmail_other_retrievers_are_commented_out_and_errors_have_positions() {
    let rc =
        b"[retriever]\ntype = SimpleIMAPSSLRetriever\nserver = imap.example.net\nusername = jeff\n\
               password_command = ('/usr/bin/pass', 'show', 'mail')\n[options]\ndelete = true\n";
    let text = render(
        &getmailrc::plan(rc, "getmailrc x", &who()).unwrap(),
        Passwords::Files,
    )
    .text;
    assert!(text.contains("# [[account]]"), "{text}");
    assert!(text.contains("SimpleIMAPSSLRetriever"), "{text}");
    assert!(
        text.contains("# password_command = [\"/usr/bin/pass\", \"show\", \"mail\"]"),
        "{text}"
    );
    assert!(!text.contains("keep = true"), "{text}");
    let e = getmailrc::plan(b"server = x\n", "x", &who()).unwrap_err();
    assert_eq!((e.line, e.col), (1, 1));
    let e = getmailrc::plan(b"[retriever]\n  \nnonsense\n", "x", &who()).unwrap_err();
    assert_eq!((e.line, e.col), (3, 1));
}

#[test]
fn mpop_defaults_inheritance_and_tls_modes() {
    let rc = b"# mpop\ndefaults\ntls on\ntls_trust_file /etc/ssl/ca.pem\nkeep on\n\n\
               account work\nhost pop.example.jp\nuser \"joe work\"\npasswordeval \"pass show work\"\n\
               delivery maildir ~/Mail/work\n\n\
               account home : work\nhost pop.home.example\ntls_starttls off\nkeep off\npassword hunter2\n\
               uidls_file ~/.mpop_uidls/home\n\n\
               account default : work\n";
    let plan = mpoprc::plan(rc, "mpoprc x", &who()).unwrap();
    assert_eq!(plan.accounts.len(), 2);
    let text = checked(&plan);
    assert!(
        text.contains("name = \"work\"\nhost = \"pop.example.jp\"\ntls = \"stls\""),
        "{text}"
    );
    assert!(text.contains("user = \"joe work\""), "{text}");
    assert!(
        text.contains("password_command = [\"sh\", \"-c\", \"pass show work\"]"),
        "{text}"
    );
    assert!(
        text.contains("name = \"home\"\nhost = \"pop.home.example\"\ntls = \"implicit\""),
        "{text}"
    );
    assert!(text.contains("ca_file = \"/etc/ssl/ca.pem\""), "{text}");
    assert!(
        text.contains("popfetch import uids mpop ~/.mpop_uidls/home --account home"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    // `home` inherits `work`'s delivery but sets keep off.
    let home = &text[text.find("name = \"home\"").unwrap()..];
    assert!(!home.contains("keep = true"), "{text}");
    let e = mpoprc::plan(b"host x\n", "x", &who()).unwrap_err();
    assert_eq!((e.line, e.col), (1, 1));
    let e = mpoprc::plan(b"account a\n  password \"open\n", "x", &who()).unwrap_err();
    assert_eq!((e.line, e.col), (2, 3));
}
