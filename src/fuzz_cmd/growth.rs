//! How a fuzz run's coverage grew: the protocol points reached (docs/scenarios.md), how
//! many runs reached each (rare points give corpus inputs their energy), which kind of
//! input reached each first (a fresh seed, a mutant, or a corpus input replayed), and the
//! totals after 1, 10, 100, ... runs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

/// The kind of input a run was, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Fresh,
    Mutant,
    /// A corpus input read from disk and replayed before fuzzing: not a fuzz run.
    Resumed,
}

/// The totals after a number of fuzz runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub runs: u64,
    pub points: usize,
    /// Points first reached by a fresh seed, by a mutant, by a replayed corpus input.
    pub by_fresh: usize,
    pub by_mutant: usize,
    pub by_resumed: usize,
}

#[derive(Default)]
pub struct Growth {
    pub points: BTreeSet<String>,
    /// How many runs (replays included) reached each point.
    pub hits: BTreeMap<String, u64>,
    pub by_fresh: usize,
    pub by_mutant: usize,
    pub by_resumed: usize,
    /// Fuzz runs, fresh and mutant (replays of the corpus are not counted).
    pub runs: u64,
    pub fresh_runs: u64,
    pub mutant_runs: u64,
    pub replayed: u64,
    /// After run 1, 10, 100, ...
    pub marks: Vec<Mark>,
    /// The last fuzz run that reached a new point, its kind and when (seconds).
    pub last_new: Option<(u64, Kind, f64)>,
}

impl Growth {
    /// Count a run of `kind` that reached `reached`, `secs` into the fuzz run; the points
    /// no earlier run had.
    pub fn add(&mut self, kind: Kind, secs: f64, reached: &[String]) -> Vec<String> {
        let new: Vec<String> = reached
            .iter()
            .filter(|p| !self.points.contains(*p))
            .cloned()
            .collect();
        for p in reached {
            *self.hits.entry(p.clone()).or_default() += 1;
        }
        self.points.extend(new.iter().cloned());
        match kind {
            Kind::Fresh => {
                self.by_fresh += new.len();
                self.fresh_runs += 1;
            }
            Kind::Mutant => {
                self.by_mutant += new.len();
                self.mutant_runs += 1;
            }
            Kind::Resumed => {
                self.by_resumed += new.len();
                self.replayed += 1;
                return new;
            }
        }
        self.runs += 1;
        if !new.is_empty() {
            self.last_new = Some((self.runs, kind, secs));
        }
        let runs = self.runs.to_string();
        if runs.starts_with('1') && runs[1..].bytes().all(|b| b == b'0') {
            // 1, 10, 100, ...
            self.marks.push(self.mark());
        }
        new
    }

    fn mark(&self) -> Mark {
        Mark {
            runs: self.runs,
            points: self.points.len(),
            by_fresh: self.by_fresh,
            by_mutant: self.by_mutant,
            by_resumed: self.by_resumed,
        }
    }

    /// The marks, and the end of the run when it is not one of them.
    pub fn marks_to_end(&self) -> Vec<Mark> {
        let mut marks = self.marks.clone();
        if self.runs > 0 && marks.last().is_none_or(|m| m.runs != self.runs) {
            marks.push(self.mark());
        }
        marks
    }

    /// Points of each family: (role, stage, message) and (role, stage, fault).
    pub fn split(&self) -> (usize, usize) {
        let faults = self
            .points
            .iter()
            .filter(|p| p.starts_with("fault "))
            .count();
        (self.points.len() - faults, faults)
    }

    /// The summary's lines: the points, then a table of growth by runs, fresh against
    /// mutant, and where the last new point came.
    pub fn summary(&self, secs_total: f64) -> Vec<String> {
        let (messages, faults) = self.split();
        let mut lines = vec![format!(
            "coverage: {} protocol points ({messages} (role, stage, message) and {faults} (role, stage, fault)){}",
            self.points.len(),
            if self.replayed > 0 {
                format!(
                    "; {} from the {} corpus inputs replayed first",
                    self.by_resumed, self.replayed
                )
            } else {
                String::new()
            }
        )];
        let marks = self.marks_to_end();
        if marks.is_empty() {
            return lines;
        }
        let row = |label: &str, f: &dyn Fn(&Mark) -> String| {
            let cells: Vec<String> = marks.iter().map(|m| format!("{:>7}", f(m))).collect();
            format!("  {label:<20}{}", cells.join(""))
        };
        lines.push(row("after runs", &|m| m.runs.to_string()));
        lines.push(row("points", &|m| m.points.to_string()));
        lines.push(row("first by fresh seeds", &|m| m.by_fresh.to_string()));
        lines.push(row("first by mutants", &|m| m.by_mutant.to_string()));
        lines.push(match self.last_new {
            Some((run, kind, secs)) => format!(
                "  the last new point at run {run} of {} (a {}, {secs:.0} s of {secs_total:.0} s)",
                self.runs,
                match kind {
                    Kind::Fresh => "fresh seed",
                    _ => "mutant",
                }
            ),
            None => "  no fuzz run reached a new point".to_string(),
        });
        lines
    }

    /// The numbers of the summary, for `coverage.json` and `--json`.
    pub fn json(&self) -> serde_json::Value {
        let (messages, faults) = self.split();
        let marks: Vec<_> = self
            .marks_to_end()
            .iter()
            .map(|m| {
                json!({"runs": m.runs, "points": m.points, "by_fresh": m.by_fresh,
                       "by_mutant": m.by_mutant, "by_resumed": m.by_resumed})
            })
            .collect();
        json!({
            "points": self.points.len(),
            "messages": messages,
            "faults": faults,
            "by_fresh": self.by_fresh,
            "by_mutant": self.by_mutant,
            "by_resumed": self.by_resumed,
            "growth": marks,
            "last_new_run": self.last_new.map(|(run, _, _)| run),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    // Growth counts each point once, for the kind of input that reached it first, counts
    // how many runs reached each, and marks the totals after 1, 10, 100, ... runs and at
    // the end; replays of the corpus are not fuzz runs.
    #[test]
    fn growth_counts_points_by_who_reached_them_first() {
        let mut g = Growth::default();
        assert_eq!(g.add(Kind::Resumed, 0.0, &points(&["a"])), points(&["a"]));
        assert_eq!(
            g.add(Kind::Fresh, 1.0, &points(&["a", "b"])),
            points(&["b"])
        );
        for _ in 0..8 {
            assert!(g.add(Kind::Fresh, 2.0, &points(&["a"])).is_empty());
        }
        assert_eq!(
            g.add(Kind::Mutant, 3.0, &points(&["fault x", "b"])),
            points(&["fault x"])
        );
        g.add(Kind::Mutant, 4.0, &[]);
        assert_eq!(
            (g.runs, g.fresh_runs, g.mutant_runs, g.replayed),
            (11, 9, 2, 1)
        );
        assert_eq!((g.by_resumed, g.by_fresh, g.by_mutant), (1, 1, 1));
        assert_eq!(g.hits["a"], 10);
        assert_eq!(g.split(), (2, 1));
        let runs: Vec<u64> = g.marks_to_end().iter().map(|m| m.runs).collect();
        assert_eq!(runs, vec![1, 10, 11]);
        assert_eq!(g.marks[1].by_mutant, 1, "run 10 was the first mutant");
        assert_eq!(
            g.last_new.map(|(run, kind, _)| (run, kind)),
            Some((10, Kind::Mutant))
        );
        let text = g.summary(5.0).join("\n");
        assert!(text.starts_with("coverage: 3 protocol points (2 (role, stage, message) and 1 (role, stage, fault)); 1 from the 1 corpus inputs replayed first"), "{text}");
        assert!(
            text.contains("the last new point at run 10 of 11 (a mutant, 3 s of 5 s)"),
            "{text}"
        );
        assert_eq!(g.json()["growth"][2]["points"], 3);
    }
}
