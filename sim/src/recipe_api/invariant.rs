//! [`Invariant`]: a named property of what a recipe's clients observed, judged over the
//! recipe's shared state (`Recipe::Shared`, the observation log its agents write into).

use std::fmt;

/// When an [`Invariant`] is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Once, when the run has ended (the liveness phase included).
    AtEnd,
    /// After every call into the agents (each reply, watch event, session change and
    /// proposal), and again at the end: a failure names the simulated time and the client
    /// whose step broke it.
    EachStep,
}

type Check<S> = dyn Fn(&S) -> Result<(), String> + Send + Sync;

/// A named invariant over the shared state `S` of a recipe's clients.
///
/// The check returns `Err(message)` when the state shows the invariant broken; the message
/// should say what was seen (which clients, which zxids), since it is what a failing test
/// prints. Judge what the clients observed in zxid order, not in simulated real time:
/// ZooKeeper promises nothing in real time once a session can expire unnoticed.
pub struct Invariant<S> {
    name: String,
    when: When,
    check: Box<Check<S>>,
}

impl<S> Invariant<S> {
    /// An invariant judged once, when the run has ended.
    pub fn at_end(
        name: impl Into<String>,
        check: impl Fn(&S) -> Result<(), String> + Send + Sync + 'static,
    ) -> Invariant<S> {
        Invariant {
            name: name.into(),
            when: When::AtEnd,
            check: Box::new(check),
        }
    }

    /// An invariant judged after every step of the agents, and at the end. The check runs
    /// often: keep it cheap (judge what changed, or keep a running summary in the state).
    pub fn each_step(
        name: impl Into<String>,
        check: impl Fn(&S) -> Result<(), String> + Send + Sync + 'static,
    ) -> Invariant<S> {
        Invariant {
            name: name.into(),
            when: When::EachStep,
            check: Box::new(check),
        }
    }

    /// The invariant's name, as failures report it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When it is judged.
    pub fn when(&self) -> When {
        self.when
    }

    /// Judge it on `shared`.
    pub fn check(&self, shared: &S) -> Result<(), String> {
        (self.check)(shared)
    }
}

impl<S> fmt::Debug for Invariant<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invariant")
            .field("name", &self.name)
            .field("when", &self.when)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invariant_reports_its_name_and_verdict() {
        // A check sees the state it is given and says why it fails.
        let positive = Invariant::at_end("positive", |n: &i32| {
            if *n > 0 {
                Ok(())
            } else {
                Err(format!("{n} is not positive"))
            }
        });
        assert_eq!(positive.name(), "positive");
        assert_eq!(positive.when(), When::AtEnd);
        assert_eq!(positive.check(&3), Ok(()));
        assert_eq!(positive.check(&-1), Err("-1 is not positive".to_string()));
        assert_eq!(
            Invariant::each_step("x", |_: &i32| Ok(())).when(),
            When::EachStep
        );
    }
}
