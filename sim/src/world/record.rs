//! What the run records for its verdict: the history, with an estimate of the memory it
//! holds, and the invariants the servers breached under a bug knob.

use std::collections::BTreeMap;

use zksim_checker::history::{Event, Outcome};

/// Invariants breached under a bug knob: per invariant, the first breach and a count.
#[derive(Debug, Default)]
pub struct Breaches(BTreeMap<&'static str, (String, u64)>);

impl Breaches {
    pub fn push(&mut self, (invariant, detail): (&'static str, String)) {
        self.0.entry(invariant).or_insert((detail, 0)).1 += 1;
    }

    /// One line per invariant: its first breach, and how many more followed.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(invariant, (first, n))| match n {
                1 => format!("{invariant}: {first}"),
                _ => format!("{invariant}: {first} (and {} more)", n - 1),
            })
            .collect()
    }
}

/// The history as the run records it, with an estimate of the memory it holds.
#[derive(Debug, Default)]
pub struct Recorded {
    events: Vec<Event>,
    bytes: u64,
}

impl Recorded {
    pub fn push(&mut self, event: Event) {
        self.bytes += event_bytes(&event) as u64;
        self.events.push(event);
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The estimated bytes the recorded events hold.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The events, leaving the record empty.
    pub fn take(&mut self) -> Vec<Event> {
        self.bytes = 0;
        std::mem::take(&mut self.events)
    }
}

/// Roughly the bytes a history event holds: its own size and what its request or reply
/// holds on the heap (data, paths, children's names).
fn event_bytes(event: &Event) -> usize {
    let heap = match event {
        Event::Invoke { op, .. } => op.heap_bytes(),
        Event::Complete {
            outcome: Outcome::Reply(reply),
            ..
        } => reply.response.heap_bytes() + reply.message.as_ref().map_or(0, String::len),
        Event::Complete {
            outcome: Outcome::Unknown { reason },
            ..
        } => reason.len(),
        Event::Watch { path, .. } => path.len(),
        Event::Fault { kind, detail, .. } => kind.len() + detail.len(),
        _ => 0,
    };
    std::mem::size_of::<Event>() + heap
}
