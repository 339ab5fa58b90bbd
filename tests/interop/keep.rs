//! keep = true / false: each message delivered once over repeated runs, or the mailbox emptied.

use super::*;

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn c_keep_true_three_runs_each_delivered_once() {
    let s = Servers::start("c_keep_true_three_runs_each_delivered_once");
    let config = s.config(Tls::Implicit, &s.path("CA_FILE"), "keep = true");
    s.put(&[
        simple("keep-1", "", "one\r\n"),
        simple("keep-2", "", "two\r\n"),
    ]);
    let first = s.run(&config);
    assert_eq!(first.code(), Some(0), "{}", s.context(&first));
    s.put(&[simple("keep-3", "", "three\r\n")]);
    let second = s.run(&config);
    assert_eq!(second.code(), Some(0), "{}", s.context(&second));
    let third = s.run(&config);
    assert_eq!(third.code(), Some(0), "{}", s.context(&third));
    s.wait_queue();
    let delivered = s.delivered();
    assert_eq!(delivered.len(), 3, "{}", s.context(&third));
    for case in ["keep-1", "keep-2", "keep-3"] {
        delivered_case(&delivered, case);
    }
    assert_eq!(
        s.dovecot_left(),
        3,
        "keep = true deleted something\n{}",
        s.context(&third)
    );
    let retr_total: usize = s
        .dovecot_log()
        .lines()
        .filter_map(|l| l.split("retr=").nth(1))
        .filter_map(|r| r.split('/').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(
        retr_total,
        3,
        "each message is downloaded once, not every run\n{}",
        s.context(&third)
    );
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn c_keep_false_empties_the_mailbox() {
    let s = Servers::start("c_keep_false_empties_the_mailbox");
    s.put(&[
        simple("del-1", "", "one\r\n"),
        simple("del-2", "", "two\r\n"),
        simple("del-3", "", "three\r\n"),
    ]);
    let config = s.config(Tls::Implicit, &s.path("CA_FILE"), "keep = false");
    let run = s.run(&config);
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
    let again = s.run(&config);
    assert_eq!(again.code(), Some(0), "{}", s.context(&again));
    s.wait_queue();
    assert_eq!(s.delivered().len(), 3, "{}", s.context(&again));
    assert!(s.bounces().is_empty());
}
