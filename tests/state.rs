//! Black-box tests of `popfetch::state`: the pure format ([`format::decode`] / encode) and the file handling
//! (`State`), named after the catalog cases they cover (C-xx, P-16, T-22).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use popfetch::error::ExitClass;
use popfetch::state::format::{
    self, DecodeError, Entry, Identity, Outcome, Record, Rejection, decode, encode_field,
    encode_header, encode_record, encode_snapshot,
};
use popfetch::state::{State, StateError};
use proptest::prelude::*;

fn ident() -> Identity {
    Identity {
        host: "pop.example.jp".into(),
        port: 995,
        user: "alice".into(),
    }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

use codec::{header, hostile_uids};

#[path = "state/codec.rs"]
mod codec;
#[path = "state/files.rs"]
mod files;
