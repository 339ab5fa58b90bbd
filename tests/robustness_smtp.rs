//! End-to-end fault tests of the SMTP side, the envelope and the Received field (catalog S-xx, H-15, H-17; S-03
//! is in `smtp_rcpt.rs`, the state cases in `robustness_state.rs`): the built `popfetch run` against the fakes of
//! `tests/support`, in two subjects, [`faults`] and [`envelope`]. Each test
//! asserts the exit status, what stayed on the server, what reached the MTA (exact wire commands where the case
//! is about the wire), what was logged, and (through `world::run`) that no secret was printed.

mod support;

use std::collections::HashMap;

use support::run::{ConfigBuilder, toml_str};
use support::world::*;
use support::*;

#[path = "robustness_smtp/envelope.rs"]
mod envelope;
#[path = "robustness_smtp/faults.rs"]
mod faults;
