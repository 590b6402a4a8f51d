//! The run's own verdicts on a user's recipe, as `zksim run` gives them: liveness, the run
//! budget, the clients' protocol, the servers' breached invariants and every property the
//! checker judges from the history (a recipe of the user's names none of the built-in
//! recipes, so none of their invariants apply).

use zksim_checker::props::{Property, Verdict};
use zksim_checker::{History, check_all};

use super::report::{Broken, Source};
use crate::{RunReport, run_check_options};

/// What the run broke, as the run and the checker judge it.
pub(super) fn judge_run(report: &RunReport) -> Vec<Broken> {
    let mut broken = Vec::new();
    if let Some(b) = &report.budget_exceeded {
        broken.push(Broken::new(Source::Run, "run budget exceeded", b.clone()));
    } else if let Err(l) = &report.liveness {
        broken.push(Broken::new(Source::Run, "liveness", l.clone()));
    }
    for p in &report.clients.protocol_violations {
        broken.push(Broken::new(Source::Run, "client protocol", p.clone()));
    }
    for b in &report.breaches {
        broken.push(Broken::new(Source::Run, "assertion", b.clone()));
    }
    let history = match History::new(&report.history) {
        Ok(h) => h,
        Err(e) => {
            let message = format!("the run's history is malformed: {e}");
            broken.push(Broken::new(Source::Run, "history", message));
            return broken;
        }
    };
    for outcome in check_all(&history, run_check_options()).outcomes {
        // A run its budget stopped never reached its fault-free phase: progress is not
        // judged on it, only safety.
        if report.budget_exceeded.is_some() && outcome.property == Property::Progress {
            continue;
        }
        match outcome.verdict {
            Verdict::Violated { findings, .. } => {
                let first = findings.first().map(|f| f.sentence.clone());
                let name = outcome.property.to_string();
                broken.push(Broken::new(
                    Source::Checker,
                    name,
                    first.unwrap_or_default(),
                ));
            }
            Verdict::Unknown(why) => {
                let name = format!("undecided {}", outcome.property);
                broken.push(Broken::new(Source::Checker, name, why));
            }
            Verdict::Holds => {}
        }
    }
    broken
}
