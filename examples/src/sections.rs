//! [`Sections`]: the observation log of a lock or a leader latch. A client writes into it
//! each protected write it made while it believed it held the lock (or led), with the zxid
//! the write's reply carried; the writes of one holding make a [`Section`], from its first
//! zxid to its last.
//!
//! The invariant: **sections do not overlap in zxid order**. It is judged in zxid order,
//! never in simulated real time, because ZooKeeper promises nothing in real time once a
//! session can expire unnoticed. It is sound for a correct client, one whose sections each
//! lie within one session, between the read that showed its node lowest (at zxid `g`) and
//! the end of that node (its deletion at `d`, by the client or when the session ends):
//!
//! - every write of a session is ordered before the session's end (no write succeeds on
//!   an ended session), and a client deletes its own node after its writes, so a
//!   section's writes all come before `d`;
//! - a client whose node `m` is the lowest at `g'` read a state without the other's node
//!   `n`, created before `m` (sequence numbers follow zxid order) and so deleted by then:
//!   `d <= g'`, and the new section's writes come after `g'`.
//!
//! So a correct client's sections come one after the other. A client that carries a
//! section across its session's expiry (it keeps writing as holder in its next session)
//! writes after `d`, where another client's section may already lie.

use std::fmt;

use zksim_sim::recipe_api::{SessionId, Zxid};

/// One holding of the lock (or one term of a leader): the protected writes it made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The client that held.
    pub client: u32,
    /// The session it was in at its first write.
    pub session: SessionId,
    /// The first protected write's zxid.
    pub first: Zxid,
    /// The last protected write's zxid.
    pub last: Zxid,
    /// How many protected writes it made.
    pub writes: u32,
    /// Sessions it wrote in after the first (a section carried across an expiry).
    pub later_sessions: Vec<SessionId>,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let writes = match self.writes {
            1 => "1 write".to_string(),
            n => format!("{n} writes"),
        };
        write!(
            f,
            "client {}'s section [{:#x}, {:#x}] ({writes}, session {:#x}",
            self.client, self.first, self.last, self.session
        )?;
        for s in &self.later_sessions {
            write!(f, ", then session {s:#x}")?;
        }
        write!(f, ")")
    }
}

fn overlap(a: &Section, b: &Section) -> bool {
    a.first.max(b.first) <= a.last.min(b.last)
}

/// The sections of one run, and the first overlap found as they grew.
#[derive(Debug, Default)]
pub struct Sections {
    sections: Vec<Section>,
    first_overlap: Option<String>,
}

impl Sections {
    /// Record a protected write at `zxid` by `client` in `session`: the first of a new
    /// section (`section` is `None`), or the next of `section`. Returns the section's index.
    pub fn write(
        &mut self,
        section: Option<usize>,
        client: u32,
        session: SessionId,
        zxid: Zxid,
    ) -> usize {
        let index = match section {
            None => {
                self.sections.push(Section {
                    client,
                    session,
                    first: zxid,
                    last: zxid,
                    writes: 1,
                    later_sessions: Vec::new(),
                });
                self.sections.len() - 1
            }
            Some(i) => {
                let s = &mut self.sections[i];
                assert_eq!(s.client, client, "a section is one client's");
                s.first = s.first.min(zxid);
                s.last = s.last.max(zxid);
                s.writes += 1;
                if session != s.session && !s.later_sessions.contains(&session) {
                    s.later_sessions.push(session);
                }
                i
            }
        };
        if self.first_overlap.is_none() {
            let grown = &self.sections[index];
            let other = self
                .sections
                .iter()
                .enumerate()
                .find(|(j, s)| *j != index && overlap(grown, s));
            if let Some((_, other)) = other {
                self.first_overlap = Some(format!("{grown} overlaps {other} in zxid order"));
            }
        }
        index
    }

    /// The sections recorded.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// Whether any two sections overlap in zxid order, judged over every section (for an
    /// invariant judged at the end).
    pub fn check(&self) -> Result<(), String> {
        let mut by_first: Vec<&Section> = self.sections.iter().collect();
        by_first.sort_by_key(|s| (s.first, s.last));
        // In order of first zxids: a section overlaps an earlier one exactly when it
        // starts before the furthest-reaching earlier section ends.
        let mut reach: Option<&Section> = None;
        for s in by_first {
            if let Some(r) = reach.filter(|r| r.last >= s.first) {
                return Err(format!("{r} overlaps {s} in zxid order"));
            }
            if reach.is_none_or(|r| s.last > r.last) {
                reach = Some(s);
            }
        }
        Ok(())
    }

    /// The first overlap seen as the sections grew (cheap: for an invariant judged at each
    /// step).
    pub fn first_overlap(&self) -> Result<(), String> {
        match &self.first_overlap {
            Some(m) => Err(m.clone()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_one_after_another_pass() {
        // Two holdings in zxid order, the second starting after the first's last write.
        let mut log = Sections::default();
        let a = log.write(None, 1, 0x10, 5);
        log.write(Some(a), 1, 0x10, 7);
        let b = log.write(None, 2, 0x20, 9);
        log.write(Some(b), 2, 0x20, 12);
        assert_eq!(log.check(), Ok(()));
        assert_eq!(log.first_overlap(), Ok(()));
    }

    #[test]
    fn a_section_carried_past_another_fails() {
        // Client 1 writes at 5, its session ends, client 2 holds from 9 to 12, and
        // client 1 writes again at 15 in its next session: its section spans client 2's.
        let mut log = Sections::default();
        let a = log.write(None, 1, 0x10, 5);
        let b = log.write(None, 2, 0x20, 9);
        log.write(Some(b), 2, 0x20, 12);
        log.write(Some(a), 1, 0x11, 15);
        let full = log.check().expect_err("overlap");
        assert!(full.contains("client 1's section [0x5, 0xf]"), "{full}");
        assert!(full.contains("then session 0x11"), "{full}");
        let step = log.first_overlap().expect_err("overlap seen as it grew");
        assert!(step.contains("client 2's section [0x9, 0xc]"), "{step}");
    }
}
