//! The corpus of a guided fuzz run: the inputs (a scenario with its fault plan written out,
//! and a seed) that reached a protocol point no earlier input had, each saved as
//! `inputs/NNNNNN-seed-S.json` in the corpus folder so that `zksim run --scenario FILE
//! --seed S` replays it, and each given an energy (how often it is picked to be mutated).
//!
//! Energy, kept simple as AFL's is at heart: an input that added more points, or reached
//! points few runs reach, is picked more often, and less so the more often it was picked
//! already, so that no single input starves the others.

use std::path::{Path, PathBuf};

use serde_json::json;
use zksim_scenarios::{Scenario, Stream, pick_weighted};

use super::growth::Growth;

/// A scenario file is at most this big (as `zksim run` reads them).
const INPUT_FILE_MAX: u64 = 16 << 20;

/// The folder of the inputs, in the corpus folder.
pub const INPUTS: &str = "inputs";

/// What went wrong with the corpus folder.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error(
        "corpus input {path}: not named NNNNNN-seed-S.json (an input number and the seed it runs with)"
    )]
    Name { path: String },
    #[error("corpus input {path}: {problem}")]
    Input { path: String, problem: String },
    #[error("cannot write {path}: {error}")]
    Write { path: String, error: std::io::Error },
}

/// Where an input came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A fresh seed of the scenario fuzzed (swarm draws a scenario from it).
    Fresh,
    /// A mutant of corpus input `parent` (its number), spliced with `donor` when a splice
    /// was among its mutations.
    Mutant {
        parent: usize,
        donor: Option<usize>,
        mutations: Vec<String>,
    },
    /// Read from the corpus folder and replayed before fuzzing.
    Resumed,
}

/// An input saved in the corpus folder, as read back.
pub struct Saved {
    pub id: usize,
    pub file: String,
    pub scenario: Scenario,
    pub seed: u64,
}

/// A corpus input with what its run reached.
pub struct Entry {
    pub id: usize,
    /// Its file, relative to the corpus folder.
    pub file: String,
    pub scenario: Scenario,
    pub seed: u64,
    pub origin: Origin,
    pub reached: Vec<String>,
    /// The points no run before it reached.
    pub new: Vec<String>,
    /// The fuzz run that found it (none for an input replayed from the folder), and when.
    pub run: Option<u64>,
    pub secs: f64,
    pub ops: u64,
    pub events: u64,
    /// How often it was picked to be mutated.
    pub picked: u64,
}

pub struct Corpus {
    /// The corpus folder.
    pub dir: PathBuf,
    pub entries: Vec<Entry>,
    next_id: usize,
}

/// `NNNNNN-seed-S.json`: the input's number and its seed.
fn parse_name(name: &str) -> Option<(usize, u64)> {
    let stem = name.strip_suffix(".json")?;
    let (id, seed) = stem.split_once("-seed-")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(id) || !digits(seed) {
        return None;
    }
    Some((id.parse().ok()?, seed.parse().ok()?))
}

pub fn file_name(id: usize, seed: u64) -> String {
    format!("{id:06}-seed-{seed}.json")
}

/// Read the inputs saved in `dir/inputs/` (none when it does not exist), in the order of
/// their numbers. Files whose names start with a dot (a write under way) are skipped;
/// every other file must be a valid input.
pub fn load(dir: &Path) -> Result<Vec<Saved>, CorpusError> {
    let inputs = dir.join(INPUTS);
    if !inputs.exists() {
        return Ok(Vec::new());
    }
    let read_error = |path: &Path, error| CorpusError::Read {
        path: path.display().to_string(),
        error,
    };
    let listing = std::fs::read_dir(&inputs).map_err(|e| read_error(&inputs, e))?;
    let mut saved = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| read_error(&inputs, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let shown = path.display().to_string();
        let (id, seed) = parse_name(&name).ok_or(CorpusError::Name {
            path: shown.clone(),
        })?;
        let scenario = read_input(&path)?;
        saved.push(Saved {
            id,
            file: format!("{INPUTS}/{name}"),
            scenario,
            seed,
        });
    }
    saved.sort_by_key(|s| (s.id, s.seed));
    Ok(saved)
}

/// One input file: a valid scenario with its fault plan written out.
fn read_input(path: &Path) -> Result<Scenario, CorpusError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(INPUT_FILE_MAX + 1).read_to_end(&mut bytes))
        .map_err(|error| CorpusError::Read {
            path: shown.clone(),
            error,
        })?;
    let problem = |problem: String| CorpusError::Input {
        path: shown.clone(),
        problem,
    };
    if bytes.len() as u64 > INPUT_FILE_MAX {
        return Err(problem(format!(
            "larger than {} MiB; a scenario is a small JSON object",
            INPUT_FILE_MAX >> 20
        )));
    }
    let scenario = Scenario::from_json_bytes(&bytes).map_err(|e| problem(e.to_string()))?;
    if scenario.plan.is_none() {
        return Err(problem(
            "no fault plan; a corpus input has its plan written out".to_string(),
        ));
    }
    Ok(scenario)
}

impl Corpus {
    /// An empty corpus in the folder `dir`, numbering new inputs after `saved`'s.
    pub fn new(dir: &Path, saved: &[Saved]) -> Corpus {
        Corpus {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
            next_id: saved.iter().map(|s| s.id + 1).max().unwrap_or(1),
        }
    }

    /// Keep an input (its file is written unless it was read from the folder); its number.
    pub fn add(
        &mut self,
        mut entry: Entry,
        saved_as: Option<(usize, String)>,
    ) -> Result<usize, CorpusError> {
        match saved_as {
            Some((id, file)) => {
                entry.id = id;
                entry.file = file;
            }
            None => {
                entry.id = self.next_id;
                self.next_id += 1;
                entry.file = format!("{INPUTS}/{}", file_name(entry.id, entry.seed));
                entry.scenario.description = describe(&entry);
                self.write(&entry)?;
            }
        }
        let id = entry.id;
        self.entries.push(entry);
        Ok(id)
    }

    /// Write an input's file whole, then rename it into place.
    fn write(&self, entry: &Entry) -> Result<(), CorpusError> {
        let folder = self.dir.join(INPUTS);
        let path = self.dir.join(&entry.file);
        let partial = folder.join(format!(".{}.partial", file_name(entry.id, entry.seed)));
        let write_error = |error| CorpusError::Write {
            path: path.display().to_string(),
            error,
        };
        std::fs::create_dir_all(&folder).map_err(write_error)?;
        std::fs::write(&partial, entry.scenario.to_json() + "\n").map_err(write_error)?;
        std::fs::rename(&partial, &path).map_err(write_error)
    }

    pub fn by_id(&self, id: usize) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// An input's energy: 1, plus 4 per point it added, plus for every point it reached 64
    /// divided by the number of runs that reached it (so a point one run reached weighs
    /// 64, one that 64 runs reached 1); divided by 1 + a quarter of the times it was
    /// picked already.
    pub fn energy(entry: &Entry, growth: &Growth) -> u64 {
        let rare: u64 = entry
            .reached
            .iter()
            .map(|p| 64 / growth.hits.get(p).copied().unwrap_or(1).max(1))
            .sum();
        (1 + 4 * entry.new.len() as u64 + rare) / (1 + entry.picked / 4)
    }

    /// Pick an input to mutate, by energy; its index in `entries`.
    pub fn pick(&mut self, growth: &Growth, rng: &mut Stream) -> usize {
        assert!(!self.entries.is_empty());
        let energies: Vec<u64> = self
            .entries
            .iter()
            .map(|e| Corpus::energy(e, growth).max(1))
            .collect();
        let index = pick_weighted(rng, &energies);
        self.entries[index].picked += 1;
        index
    }

    /// Each input, for `coverage.json`: its file, seed and origin, the run that found it
    /// and the points it added.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.entries
            .iter()
            .map(|e| {
                let file_of = |id: usize| self.by_id(id).map(|p| p.file.clone());
                let (origin, parent, donor, mutations) = match &e.origin {
                    Origin::Fresh => ("fresh", None, None, Vec::new()),
                    Origin::Resumed => ("resumed", None, None, Vec::new()),
                    Origin::Mutant {
                        parent,
                        donor,
                        mutations,
                    } => (
                        "mutant",
                        file_of(*parent),
                        donor.and_then(file_of),
                        mutations.clone(),
                    ),
                };
                json!({
                    "file": e.file,
                    "seed": e.seed,
                    "origin": origin,
                    "parent": parent,
                    "donor": donor,
                    "mutations": mutations,
                    "run": e.run,
                    "seconds": e.secs,
                    "ops": e.ops,
                    "events": e.events,
                    "reached": e.reached.len(),
                    "new": e.new,
                })
            })
            .collect()
    }
}

/// An input's description in its file: its number, then where it came from (a fresh
/// seed's scenario says how it was drawn, a mutant's what was changed).
fn describe(entry: &Entry) -> String {
    match &entry.origin {
        Origin::Fresh => format!(
            "fuzz input {}: seed {} of {} ({})",
            entry.id, entry.seed, entry.scenario.name, entry.scenario.description
        ),
        _ => format!("fuzz input {}: {}", entry.id, entry.scenario.description),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_files_are_named_by_number_and_seed() {
        assert_eq!(file_name(3, 1_000_007), "000003-seed-1000007.json");
        assert_eq!(parse_name("000003-seed-1000007.json"), Some((3, 1_000_007)));
        assert_eq!(parse_name("1234567-seed-0.json"), Some((1_234_567, 0)));
        for bad in [
            "000003-seed-.json",
            "000003-seed-7.txt",
            "x-seed-7.json",
            "000003-seed-+7.json",
            "000003-seed-99999999999999999999.json",
            "seed-7.json",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
