//! Recipe invariants judged from a history alone (docs/recipes.md).
//!
//! A run whose clients ran a coordination recipe (the ZooKeeper paper, Hunt et al., USENIX
//! ATC 2010, §2.3–2.4, and ZooKeeper's recipes page) names it in its header. Every recipe
//! has invariants of its own (one lock holder at a time, a counter that adds up, ...), each
//! judged here, one file per recipe, from what the clients were told: each request's
//! invocation and completion, watch notifications and session events, in the order the
//! history lists them, which is the order the clients were told them. Knowledge a recipe
//! passes "out of band" (client 2 tells client 5 its write was acknowledged) is a fact of
//! the history too: a completion recorded before another request's invocation.
//!
//! Each invariant uses only facts that hold in every correct ZooKeeper, in zxid order and
//! never in real time, so a finding is a real bug; an unknown outcome only ever weakens a
//! check. Each recipe also counts what it checked (an invariant never exercised proves
//! nothing), under the names `zksim run` prints and the simulator's tests require.

pub mod barrier;
mod closes;
pub mod config;
pub mod counter;
pub mod election;
mod feed;
mod findings;
pub mod lock;
pub mod queue;
mod reply;
pub mod session_expiry;
pub mod stale_read_sync;

pub use closes::Closes;
pub use feed::{Feed, Tell, Told};
pub use findings::{FINDINGS_MAX, InvariantFindings};

use crate::index::{History, OpId};

/// The recipes this checker judges, as a header names them (`generic`, or no name, is the
/// generic workload, which has no invariant of its own).
pub const RECIPES: [&str; 8] = [
    "config",
    "counter",
    "election",
    "lock",
    "barrier",
    "queue",
    "stale_read_sync",
    "session_expiry",
];

/// One way a history breaks an invariant: a plain sentence naming the clients, paths,
/// values and zxids involved, and the operations and other events (by position) behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipeFinding {
    pub sentence: String,
    pub ops: Vec<OpId>,
    pub events: Vec<usize>,
}

/// One invariant's verdict: its first findings (at most `FINDINGS_MAX`) and how many there
/// were; none means it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantOutcome {
    pub recipe: &'static str,
    pub invariant: &'static str,
    pub findings: Vec<RecipeFinding>,
    pub total: usize,
}

impl InvariantOutcome {
    pub fn holds(&self) -> bool {
        self.total == 0
    }
}

/// Every invariant of the history's recipe, and how much the recipe did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipeReport {
    pub recipe: String,
    pub outcomes: Vec<InvariantOutcome>,
    /// What the recipe did and checked, as (what, how many): "config reads checked", ...
    pub counts: Vec<(&'static str, u64)>,
}

impl RecipeReport {
    pub fn holds(&self) -> bool {
        self.outcomes.iter().all(InvariantOutcome::holds)
    }

    pub fn violated(&self) -> impl Iterator<Item = &InvariantOutcome> {
        self.outcomes.iter().filter(|o| !o.holds())
    }

    /// A count by name.
    pub fn count(&self, what: &str) -> Option<u64> {
        self.counts
            .iter()
            .find(|(name, _)| *name == what)
            .map(|(_, n)| *n)
    }
}

/// Why a history's recipe cannot be judged: bad input, not a verdict.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecipeError {
    #[error("the header names recipe {0:?}, which the checker does not know (known: {known})", known = RECIPES.join(", "))]
    UnknownRecipe(String),
    #[error(
        "the header names recipe {0:?} but not how many clients the run had, which its invariants need"
    )]
    NoClientCount(String),
}

/// What one recipe's judge returns.
pub struct Judged {
    pub outcomes: Vec<InvariantOutcome>,
    pub counts: Vec<(&'static str, u64)>,
}

/// Judge the invariants of the recipe the history's header names. `Ok(None)` when it names
/// none (or `generic`); an error when it names one this checker does not know, or leaves
/// out the client count the invariants need.
pub fn check(h: &History) -> Result<Option<RecipeReport>, RecipeError> {
    let recipe = match h.header.recipe.as_deref() {
        None | Some("generic") => return Ok(None),
        Some(name) => name,
    };
    let judge: fn(&Feed) -> Judged = match recipe {
        "config" => config::judge,
        "counter" => counter::judge,
        "election" => election::judge,
        "lock" => lock::judge,
        "barrier" => barrier::judge,
        "queue" => queue::judge,
        "stale_read_sync" => stale_read_sync::judge,
        "session_expiry" => session_expiry::judge,
        other => return Err(RecipeError::UnknownRecipe(other.to_string())),
    };
    let clients = h
        .header
        .clients
        .filter(|c| *c > 0)
        .ok_or_else(|| RecipeError::NoClientCount(recipe.to_string()))?;
    let feed = Feed::new(h, clients);
    let judged = judge(&feed);
    assert!(!judged.outcomes.is_empty(), "{recipe}: judged no invariant");
    Ok(Some(RecipeReport {
        recipe: recipe.to_string(),
        outcomes: judged.outcomes,
        counts: judged.counts,
    }))
}
