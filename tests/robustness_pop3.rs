//! End-to-end fault tests of the POP3 side (catalog §1.1 P-xx and §1.2 T-xx): the built `popfetch run` against
//! the scripted fake POP3 server and the fake MTA of `tests/support`. Each test asserts the exit status, what
//! stayed on the server, what reached the MTA, what was logged, and (through `world::run`) that the password
//! appears in no output. Mapping to catalog ids: docs/robustness.md.

mod support;

use std::time::Duration;

use support::run::{AccountCfg, ConfigBuilder, toml_str, write_private};
use support::world::*;
use support::*;

/// Nothing was retrieved, deleted or handed to the MTA, and the maildrop still holds `uids`.
fn assert_untouched(w: &World, uids: &[&str]) {
    assert_eq!(w.pop.mailbox_uids(), uids, "maildrop changed");
    assert!(
        w.pop.retr_log().is_empty(),
        "RETR completed: {:?}",
        w.pop.retr_log()
    );
    assert!(
        !all_verbs(&w.pop).iter().any(|v| v == "DELE"),
        "DELE sent: {:?}",
        all_verbs(&w.pop)
    );
    assert!(
        w.smtp.transactions().is_empty(),
        "something reached the MTA"
    );
}

#[path = "robustness_pop3/login.rs"]
mod login;
#[path = "robustness_pop3/maildrop.rs"]
mod maildrop;
#[path = "robustness_pop3/tls.rs"]
mod tls;
