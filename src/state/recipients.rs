//! Per-recipient records of a multidrop message (issue 15; format version 2, [`super::format`]).
//!
//! A message with several recipients is settled recipient by recipient: [`State::record_recipients`] journals, in
//! one write and one fsync, whom the destination accepted it for and who refused it for good. The poller records
//! `D` (and only then `DELE`s) once every recipient is settled; until then the next poll delivers to the recipients
//! still missing only, so nobody gets a second copy. The duplicate window stays the one of invariant 1: killed
//! between the destination's reply and this fsync.

use std::collections::BTreeSet;

use super::format::{self, Record};
use super::{Rejection, State, StateError, rejection_now};

impl State {
    /// The recipients this UID was delivered to (multidrop), in any earlier or this run.
    pub fn served(&self, uid: &str) -> BTreeSet<String> {
        self.entries
            .get(uid)
            .map(|e| e.served.clone())
            .unwrap_or_default()
    }

    /// The recipients that refused this UID for good (multidrop), with their refusal.
    pub fn refused(&self, uid: &str) -> Vec<(String, Rejection)> {
        self.entries
            .get(uid)
            .map(|e| {
                e.refused
                    .iter()
                    .map(|(r, j)| (r.clone(), j.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Journal, durably, that `uid` was accepted for each of `served` and refused for good (code and text) by each
    /// of `refused`. The first such records of a version 1 file rewrite it as version 2 (atomically, with the
    /// records in it), so that an older popfetch refuses it by its version.
    ///
    /// # Errors
    /// As [`State::record_delivered`]; nothing may be `DELE`d then.
    pub fn record_recipients(
        &mut self,
        uid: &str,
        served: &[String],
        refused: &[(String, u16, String)],
    ) -> Result<(), StateError> {
        let rejections: Vec<Rejection> = refused
            .iter()
            .map(|(_, code, text)| rejection_now(*code, text))
            .collect();
        let mut records: Vec<Record<'_>> = served
            .iter()
            .map(|rcpt| Record::Served {
                uid,
                absent: 0,
                rcpt,
            })
            .collect();
        records.extend(
            refused
                .iter()
                .zip(&rejections)
                .map(|((rcpt, _, _), rejection)| Record::Refused {
                    uid,
                    absent: 0,
                    rcpt,
                    rejection,
                }),
        );
        if records.is_empty() {
            return Ok(());
        }
        if self.disk_version >= 2 {
            return self.append_all(&records, true);
        }
        self.check_poisoned()?;
        let mut entries = self.entries.clone();
        for r in &records {
            format::apply(&mut entries, r);
        }
        self.rewrite(entries)
    }
}
