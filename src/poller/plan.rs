//! What one poll will do with each message on the server, decided without any I/O (design.md, flow step 3).
//!
//! The run and the dry run execute the same [`Plan`]: the run fetches and delivers its [`Step::Fetch`] messages
//! and `DELE`s the recorded ones again; the dry run fetches and shows them. Inputs are the unique-UID listing, LIST's
//! sizes, what the state recorded ([`Recorded`]), the account's policy and, once the MTA has answered EHLO, its
//! SIZE limit ([`Plan::limit_to`]).

use std::collections::HashMap;

use crate::state::Recorded;
use crate::state::format::Outcome;

/// The account's rules that decide between fetching and leaving a message alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// `keep = true`: never delete.
    pub(crate) keep: bool,
    /// `max_message_size`: larger messages stay on the server unfetched.
    pub(crate) max_message_size: u64,
    /// `--retry-rejected`: fetch messages the MTA refused for good in an earlier poll.
    pub(crate) retry_rejected: bool,
}

impl Policy {
    /// The policy of `acct` polled with `opts`.
    pub(crate) fn of(acct: &crate::config::Account, opts: &super::PollOptions) -> Policy {
        Policy {
            keep: acct.keep,
            max_message_size: acct.max_message_size,
            retry_rejected: opts.retry_rejected,
        }
    }
}

/// A message the poll fetches: its number, UID and what LIST said of its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) n: u32,
    pub(crate) uid: String,
    /// LIST's size (0 when LIST did not name the message, catalog P-18).
    pub(crate) size: u64,
    /// LIST named the message, so its RETR can be checked against `size`.
    pub(crate) listed: bool,
}

/// Whose size limit a message exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The account's `max_message_size`.
    Config(u64),
    /// The MTA's EHLO `SIZE` (RFC 1870 §4, catalog S-13).
    Mta(u64),
}

impl Limit {
    pub(crate) fn bytes(self) -> u64 {
        match self {
            Limit::Config(b) | Limit::Mta(b) => b,
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Config(b) => write!(f, "max_message_size {b}"),
            Limit::Mta(b) => write!(f, "the MTA's SIZE limit of {b}"),
        }
    }
}

/// The decision about one message, in server order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Delivered by an earlier poll whose DELE or QUIT did not complete (catalog C-05, P-25, P-26). `dele`: delete
    /// it now (false with `keep`, and for a message kept for good because its RETR did not match LIST).
    Recorded {
        n: u32,
        uid: String,
        dele: bool,
        kept_for_good: bool,
    },
    /// The MTA refused it for good in an earlier poll; it waits on the server for `--retry-rejected`.
    Rejected {
        n: u32,
        uid: String,
        code: u16,
        text: String,
    },
    /// Larger than a limit: left on the server unfetched and unrecorded, tried again each poll.
    TooBig {
        n: u32,
        uid: String,
        size: u64,
        limit: Limit,
    },
    /// Fetch and deliver it.
    Fetch(Pending),
}

/// The ordered decisions of one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) steps: Vec<Step>,
}

impl Plan {
    /// Decide for each message of `listing` (`(number, uid)` in server order, unique UIDs only).
    pub(crate) fn new(
        listing: &[(u32, String)],
        sizes: &HashMap<u32, u64>,
        recorded: &impl Recorded,
        policy: Policy,
    ) -> Plan {
        let steps = listing
            .iter()
            .map(|(n, uid)| {
                let (n, uid, size) = (*n, uid.clone(), sizes.get(n).copied());
                match recorded.entry(&uid).and_then(|e| e.outcome.as_ref()) {
                    Some(Outcome::Delivered) => Step::Recorded {
                        n,
                        uid,
                        dele: !policy.keep,
                        kept_for_good: false,
                    },
                    Some(Outcome::Kept) => Step::Recorded {
                        n,
                        uid,
                        dele: false,
                        kept_for_good: true,
                    },
                    Some(Outcome::Rejected(r)) if !policy.retry_rejected => Step::Rejected {
                        n,
                        uid,
                        code: r.code,
                        text: r.text.clone(),
                    },
                    _ if size.unwrap_or(0) > policy.max_message_size => Step::TooBig {
                        n,
                        uid,
                        size: size.unwrap_or(0),
                        limit: Limit::Config(policy.max_message_size),
                    },
                    _ => Step::Fetch(Pending {
                        n,
                        uid,
                        size: size.unwrap_or(0),
                        listed: size.is_some(),
                    }),
                }
            })
            .collect();
        Plan { steps }
    }

    /// The MTA announced `SIZE limit`: a message whose LIST size exceeds it would be refused after the whole
    /// download, so it is not fetched (catalog S-13). Returns the steps that changed.
    pub(crate) fn limit_to(&mut self, limit: u64) -> Vec<Step> {
        let mut changed = Vec::new();
        for step in &mut self.steps {
            if let Step::Fetch(p) = step
                && p.size > limit
            {
                *step = Step::TooBig {
                    n: p.n,
                    uid: p.uid.clone(),
                    size: p.size,
                    limit: Limit::Mta(limit),
                };
                changed.push(step.clone());
            }
        }
        changed
    }

    /// The messages to fetch, in server order.
    pub(crate) fn fetches(&self) -> impl Iterator<Item = &Pending> {
        self.steps.iter().filter_map(|s| match s {
            Step::Fetch(p) => Some(p),
            _ => None,
        })
    }

    /// Messages recorded as delivered that are deleted again now.
    pub(crate) fn redeletes(&self) -> impl Iterator<Item = u32> {
        self.steps.iter().filter_map(|s| match s {
            Step::Recorded { n, dele: true, .. } => Some(*n),
            _ => None,
        })
    }

    /// Listed messages not recorded as delivered (the status file's "new on the server").
    pub(crate) fn not_delivered(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| !matches!(s, Step::Recorded { .. }))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::state::Rejection;
    use crate::state::format::Entry;

    struct Journal(BTreeMap<String, Entry>);

    impl Recorded for Journal {
        fn entry(&self, uid: &str) -> Option<&Entry> {
            self.0.get(uid)
        }
    }

    fn journal(entries: &[(&str, Outcome)]) -> Journal {
        Journal(
            entries
                .iter()
                .map(|(u, o)| {
                    let e = Entry {
                        outcome: Some(o.clone()),
                        ..Entry::default()
                    };
                    ((*u).to_owned(), e)
                })
                .collect(),
        )
    }

    fn rejected() -> Outcome {
        Outcome::Rejected(Rejection {
            code: 554,
            text: "5.7.1 no".into(),
            unix_time: 0,
        })
    }

    const POLICY: Policy = Policy {
        keep: false,
        max_message_size: 100,
        retry_rejected: false,
    };

    fn fetch(n: u32, uid: &str, size: u64) -> Step {
        Step::Fetch(Pending {
            n,
            uid: uid.into(),
            size,
            listed: true,
        })
    }

    /// One table: each row is (what the state says, the policy, LIST's size) → the step.
    #[test]
    fn each_recorded_outcome_and_policy_gives_one_step() {
        let keep = Policy {
            keep: true,
            ..POLICY
        };
        let retry = Policy {
            retry_rejected: true,
            ..POLICY
        };
        let recorded_step = |dele, kept_for_good| Step::Recorded {
            n: 1,
            uid: "u".into(),
            dele,
            kept_for_good,
        };
        let cases: Vec<(Option<Outcome>, Policy, u64, Step)> = vec![
            (None, POLICY, 10, fetch(1, "u", 10)),
            (None, POLICY, 100, fetch(1, "u", 100)),
            (
                None,
                POLICY,
                101,
                Step::TooBig {
                    n: 1,
                    uid: "u".into(),
                    size: 101,
                    limit: Limit::Config(100),
                },
            ),
            (
                Some(Outcome::Delivered),
                POLICY,
                10,
                recorded_step(true, false),
            ),
            (
                Some(Outcome::Delivered),
                keep,
                10,
                recorded_step(false, false),
            ),
            (Some(Outcome::Kept), POLICY, 10, recorded_step(false, true)),
            // Recorded outcomes win over the size limit: nothing is fetched again.
            (
                Some(Outcome::Delivered),
                POLICY,
                999,
                recorded_step(true, false),
            ),
            (
                Some(rejected()),
                POLICY,
                10,
                Step::Rejected {
                    n: 1,
                    uid: "u".into(),
                    code: 554,
                    text: "5.7.1 no".into(),
                },
            ),
            (Some(rejected()), retry, 10, fetch(1, "u", 10)),
        ];
        for (outcome, policy, size, want) in cases {
            let j = match &outcome {
                Some(o) => journal(&[("u", o.clone())]),
                None => journal(&[]),
            };
            let plan = Plan::new(&[(1, "u".into())], &HashMap::from([(1, size)]), &j, policy);
            assert_eq!(plan.steps, vec![want], "{outcome:?} {policy:?} {size}");
        }
    }

    #[test]
    fn p18_a_message_list_did_not_name_is_fetched_unchecked() {
        let plan = Plan::new(&[(3, "x".into())], &HashMap::new(), &journal(&[]), POLICY);
        let want = Step::Fetch(Pending {
            n: 3,
            uid: "x".into(),
            size: 0,
            listed: false,
        });
        assert_eq!(plan.steps, vec![want]);
    }

    #[test]
    fn order_redeletes_and_counts_follow_the_listing() {
        let listing: Vec<(u32, String)> = ["a", "b", "c", "d"]
            .iter()
            .enumerate()
            .map(|(i, u)| (i as u32 + 1, (*u).to_owned()))
            .collect();
        let sizes = HashMap::from([(1, 5), (2, 5), (3, 500), (4, 5)]);
        let j = journal(&[("b", Outcome::Delivered), ("d", rejected())]);
        let plan = Plan::new(&listing, &sizes, &j, POLICY);
        assert_eq!(plan.fetches().map(|p| p.n).collect::<Vec<_>>(), vec![1]);
        assert_eq!(plan.redeletes().collect::<Vec<_>>(), vec![2]);
        assert_eq!(plan.not_delivered(), 3);
    }

    #[test]
    fn s13_the_mta_size_limit_turns_fetches_into_waits() {
        let sizes = HashMap::from([(1, 50), (2, 80)]);
        let listing = [(1, "a".to_owned()), (2, "b".to_owned())];
        let mut plan = Plan::new(&listing, &sizes, &journal(&[]), POLICY);
        let changed = plan.limit_to(60);
        let too_big = Step::TooBig {
            n: 2,
            uid: "b".into(),
            size: 80,
            limit: Limit::Mta(60),
        };
        assert_eq!(changed, vec![too_big.clone()]);
        assert_eq!(plan.steps, vec![fetch(1, "a", 50), too_big]);
    }
}
