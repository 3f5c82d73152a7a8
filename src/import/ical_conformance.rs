//! The iCalendar conformance corpus (`tests/conformance/ical/`): every file is read over
//! the README's window and compared, occurrence by occurrence, with the answer of an
//! independent implementation (the "oracle"). Nothing here is written by hand except
//! the lists of files and occurrences that are known to differ, each with its reason;
//! the test fails when such an entry no longer differs, so the lists only shrink.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use super::ical::{Occurrence, read_feed};
use crate::domain::time::resolve_local;

const AMS: Tz = chrono_tz::Europe::Amsterdam;

/// Files whose answers need what the importer does not do yet.
const NOT_YET_SUPPORTED: &[(&str, &str)] = &[];

/// Single occurrences where the oracle's answer is doubtful (README, SOURCES.md): the
/// record as printed by this test, present on one side only.
/// Here the importer keeps an override whose instance the master also lists in EXDATE
/// (Apple iCal 1.5 writes both; Apple showed the event, the oracle drops it): an
/// override is an explicit statement that the instance happens.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "ical4j__blalor.ics",
        r#"D9182220 | rid 2004-02-24 | 2004-02-24 .. 2004-02-25 all-day | "Pay AmEx bill" | -"#,
        "override of an EXDATE'd instance is kept",
    ),
    (
        "ical4j__blalor.ics",
        r#"D9182220 | rid 2004-03-24 | 2004-03-24 .. 2004-03-25 all-day | "Pay AmEx bill" | -"#,
        "override of an EXDATE'd instance is kept",
    ),
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/ical")
}

fn window() -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = |y| resolve_local(AMS, NaiveDate::from_ymd_opt(y, 1, 1).unwrap().into());
    (midnight(2000), midnight(2031))
}

/// One occurrence, flattened to the fields the oracle reports.
fn ours(occ: &Occurrence) -> String {
    let utc = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let date = |t: DateTime<Utc>| t.with_timezone(&AMS).date_naive().to_string();
    let uid = if occ.uid_is_generated { "null".to_string() } else { occ.uid.clone() };
    let (rid, start, end) = if occ.all_day {
        (occ.recurrence_id.map(date), date(occ.starts_at), date(occ.ends_at))
    } else {
        (occ.recurrence_id.map(utc), utc(occ.starts_at), utc(occ.ends_at))
    };
    record(
        &uid,
        rid.as_deref(),
        &start,
        &end,
        occ.all_day,
        occ.summary.as_deref(),
        occ.status.as_deref(),
    )
}

fn theirs(v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let all_day = v.get("all_day").and_then(Value::as_bool).unwrap_or(false);
    let (start, end) =
        if all_day { (s("date"), s("end_date")) } else { (s("start_utc"), s("end_utc")) };
    record(
        s("uid").unwrap_or("null"),
        s("recurrence_id"),
        start.unwrap_or("?"),
        end.unwrap_or("?"),
        all_day,
        s("summary").filter(|t| !t.trim().is_empty()),
        s("status"),
    )
}

fn record(
    uid: &str,
    rid: Option<&str>,
    start: &str,
    end: &str,
    all_day: bool,
    summary: Option<&str>,
    status: Option<&str>,
) -> String {
    let kind = if all_day { "all-day" } else { "timed" };
    format!(
        "{uid} | rid {} | {start} .. {end} {kind} | {:?} | {}",
        rid.unwrap_or("-"),
        summary.unwrap_or("-"),
        status.unwrap_or("-")
    )
}

/// Counts of each record, so duplicates count.
fn bag(records: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut bag = BTreeMap::new();
    for r in records {
        *bag.entry(r).or_insert(0) += 1;
    }
    bag
}

/// Records in `a` more often than in `b`.
fn surplus(a: &BTreeMap<String, usize>, b: &BTreeMap<String, usize>) -> Vec<String> {
    a.iter()
        .filter(|(r, n)| b.get(*r).copied().unwrap_or(0) < **n)
        .map(|(r, _)| r.clone())
        .collect()
}

#[test]
fn every_corpus_file_matches_the_oracle_or_is_listed() {
    let dir = corpus();
    let no_expected: Vec<String> = std::fs::read_to_string(dir.join("no-expected.txt"))
        .expect("no-expected.txt")
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let mut files: Vec<String> = std::fs::read_dir(dir.join("files"))
        .expect("files/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let (from, to) = window();
    let (mut matched, mut failures) = (0, Vec::new());
    let mut used_differences = Vec::new();
    for file in &files {
        let bytes = std::fs::read(dir.join("files").join(file)).expect("read file");
        let text = String::from_utf8_lossy(&bytes);
        let feed = read_feed(&text, AMS, from, to);
        if no_expected.contains(file) {
            match feed {
                Ok(f) => println!(
                    "skip  {file}: no expected result ({} occurrences, {} problems)",
                    f.occurrences.len(),
                    f.problems.len()
                ),
                Err(e) => println!("skip  {file}: no expected result ({e})"),
            }
            continue;
        }
        let expected: Vec<Value> = serde_json::from_slice(
            &std::fs::read(dir.join("expected").join(format!("{file}.json")))
                .expect("expected file"),
        )
        .expect("expected JSON");
        let want = bag(expected.iter().map(theirs));
        let (got, problems) = match feed {
            Ok(f) => (bag(f.occurrences.iter().map(ours)), f.problems),
            Err(e) => (BTreeMap::new(), vec![e.to_string()]),
        };
        let known: Vec<&str> =
            KNOWN_DIFFERENCES.iter().filter(|(f, _, _)| f == file).map(|(_, r, _)| *r).collect();
        let mut missing = surplus(&want, &got);
        let mut extra = surplus(&got, &want);
        for r in &known {
            if missing.iter().chain(&extra).any(|m| m == r) {
                used_differences.push(r.to_string());
            }
        }
        missing.retain(|r| !known.contains(&r.as_str()));
        extra.retain(|r| !known.contains(&r.as_str()));
        let ok = missing.is_empty() && extra.is_empty();
        let listed = NOT_YET_SUPPORTED.iter().find(|(f, _)| f == file);
        match (ok, listed) {
            (true, None) => {
                matched += 1;
                let note =
                    if known.is_empty() { "" } else { " (with the listed known differences)" };
                println!("ok    {file}: {} occurrences{note}", want.values().sum::<usize>());
            }
            (true, Some(_)) => {
                failures.push(format!("{file} now matches: remove it from NOT_YET_SUPPORTED"))
            }
            (false, Some((_, why))) => println!("later {file}: {why}"),
            (false, None) => {
                println!(
                    "FAIL  {file}: {} missing, {} extra, problems {problems:?}",
                    missing.len(),
                    extra.len()
                );
                for r in missing.iter().take(5) {
                    println!("        missing {r}");
                }
                for r in extra.iter().take(5) {
                    println!("        extra   {r}");
                }
                failures.push(format!("{file} differs from the oracle"));
            }
        }
    }
    for (file, r, _) in KNOWN_DIFFERENCES {
        if !used_differences.iter().any(|u| u == r) {
            failures
                .push(format!("{file}: `{r}` no longer differs: remove it from KNOWN_DIFFERENCES"));
        }
    }
    let with_expected = files.len() - no_expected.len();
    println!("{matched} of {with_expected} files with an expected result match the oracle");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `reminderd preview --json` prints the corpus format: for every file without a known
/// difference, the whole array — every field, in the corpus order — equals the oracle's
/// once the added `contact` objects are taken out.
#[test]
fn the_preview_json_equals_the_oracle_file_for_file() {
    let dir = corpus();
    let rules = super::contact::ContactRules::default();
    let (from, to) = (
        NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2031, 1, 1).unwrap(),
    );
    let mut compared = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(dir.join("expected")).expect("expected/") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let file = name.trim_end_matches(".json");
        if KNOWN_DIFFERENCES.iter().any(|(f, _, _)| *f == file) {
            continue;
        }
        let bytes = std::fs::read(dir.join("files").join(file)).expect("the .ics file");
        let text = String::from_utf8_lossy(&bytes);
        let preview =
            super::preview::preview(&text, &rules, AMS, crate::domain::Region::default(), from, to)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut ours = serde_json::to_value(&preview.occurrences).expect("JSON");
        for o in ours.as_array_mut().expect("an array") {
            o.as_object_mut().expect("an object").remove("contact");
        }
        let theirs: Value =
            serde_json::from_slice(&std::fs::read(entry.path()).unwrap()).expect("expected JSON");
        compared += 1;
        if ours != theirs {
            failures.push(file.to_string());
        }
    }
    assert!(compared >= 50, "the corpus was read: {compared}");
    assert!(failures.is_empty(), "preview JSON differs from the oracle for {failures:?}");
}
