//! Reading iCalendar feeds (RFC 5545) into occurrences: one entry per appointment slot
//! inside a time window, with recurrences expanded, overrides applied and every time in
//! UTC.
//!
//! Feeds are untrusted and often sloppy, so reading is per event: one broken VEVENT (an
//! unknown zone, a malformed date, a rule `rrule` rejects) is reported in
//! [`Feed::problems`] and the others are still imported. Only a text that is not
//! iCalendar at all is an [`IcalError`].

mod content;
mod expand;
mod value;
mod vtimezone;
mod windows_zones;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

/// A feed as read: its occurrences, and what could not be read in it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Feed {
    /// Occurrences starting inside the window, in no particular order.
    pub occurrences: Vec<Occurrence>,
    /// One line per event (or instance) that was skipped, naming its UID and the cause.
    /// Never contains personal data beyond the UID.
    pub problems: Vec<String>,
    /// The UIDs of events that were (partly) skipped: their appointments are not known to
    /// be gone, so an import must not take them for deleted.
    pub skipped_uids: BTreeSet<String>,
}

/// Why a feed could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcalError {
    #[error("the text is not an iCalendar feed (it has no BEGIN:VCALENDAR)")]
    NotICalendar,
}

/// An attendee: the URI (`mailto:…`, `tel:…`) and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attendee {
    pub value: String,
    /// The `CN` parameter: the attendee's display name.
    pub cn: Option<String>,
    /// Every parameter, names in capitals.
    pub params: Vec<(String, String)>,
}

/// One occurrence of an event: a single event, or one instance of a series.
#[derive(Clone, Debug, PartialEq)]
pub struct Occurrence {
    /// The event's UID. An event without one gets a UID derived from its content (see
    /// [`Occurrence::uid_is_generated`]), so it keeps its identity between imports as long
    /// as it does not change.
    pub uid: String,
    pub uid_is_generated: bool,
    /// For an instance of a recurring set: the original start of the instance (for a
    /// moved instance, the slot it was moved from; for an all-day series, local midnight
    /// of the date). `None` for an event that is not part of a recurring set.
    pub recurrence_id: Option<DateTime<Utc>>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Started on a DATE: `starts_at` is local midnight in the business zone.
    pub all_day: bool,
    pub summary: Option<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    /// `STATUS` in capitals (`CONFIRMED`, `TENTATIVE`, `CANCELLED`).
    pub status: Option<String>,
    pub sequence: i64,
    pub attendees: Vec<Attendee>,
    /// Every other property of the component (`ORGANIZER`, `X-PHONE`, …), names in
    /// capitals, TEXT unescaped. Contact rules look here.
    pub properties: Vec<(String, String)>,
}

impl Occurrence {
    /// The identity of this occurrence between imports: the UID for a single event,
    /// `uid/<original start in UTC>` for an instance of a series. Moving an instance
    /// keeps its key, so its reminders move with it.
    pub fn key(&self) -> String {
        match self.recurrence_id {
            None => self.uid.clone(),
            Some(rid) => {
                format!("{}/{}", self.uid, rid.to_rfc3339_opts(SecondsFormat::Secs, true))
            }
        }
    }

    /// The first value of property `name` (capitals), if any.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads every VEVENT of `text` and returns the occurrences that start in `[from, to)`.
/// Floating times and DATE values are read in `zone`, the business zone.
pub fn read_feed(
    text: &str,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Feed, IcalError> {
    let mut occurrences = Vec::new();
    let mut feed = read_feed_in_parts(text, zone, from, to, |part| {
        occurrences.extend(part);
        ControlFlow::Continue(())
    })?;
    feed.occurrences = occurrences;
    Ok(feed)
}

/// Occurrences per part handed over by [`read_feed_in_parts`].
const PART: usize = 500;

/// [`read_feed`], handing the occurrences over in parts of a few hundred as they are
/// read, so that the caller can store them while the rest is still being read. An
/// event whose UID no other VEVENT of the feed carries is expanded as soon as it is
/// parsed; the events that share a UID (a series and its overrides, which may come
/// anywhere in the file) are expanded together once every event is parsed. `part`
/// stops the reading by returning `Break`. The returned [`Feed`] holds the problems;
/// its `occurrences` are empty.
pub fn read_feed_in_parts(
    text: &str,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut part: impl FnMut(Vec<Occurrence>) -> ControlFlow<()>,
) -> Result<Feed, IcalError> {
    let text = text.trim_start_matches('\u{feff}');
    if !is_icalendar(text) {
        return Err(IcalError::NotICalendar);
    }
    let mut feed = Feed::default();
    let zones = vtimezone::Zones::read(
        component_blocks(text, "VTIMEZONE", true).iter().map(String::as_str),
    );
    let blocks = component_blocks(text, "VEVENT", false);
    let window = expand::Window { from, to, zone, zones: &zones };
    let alone = uids_alone(&blocks);
    // the events sharing a UID, gathered by UID
    let mut shared: BTreeMap<String, expand::Series> = BTreeMap::new();
    // hands a part over once enough occurrences wait; false: the caller stopped
    let mut hand_over = |feed: &mut Feed| {
        feed.occurrences.len() < PART || part(std::mem::take(&mut feed.occurrences)).is_continue()
    };
    for (block, alone) in blocks.iter().zip(alone) {
        let event = match parse_event(block) {
            Ok(event) => event,
            Err(problem) => {
                // the UID as written, if the line is readable at all
                feed.skipped_uids
                    .extend(written_uid(block).filter(|u| !u.is_empty()).map(str::to_string));
                feed.problems.push(problem);
                continue;
            }
        };
        // TEXT, so unescaped (RFC 5545 §3.8.4.7)
        let (uid, generated) = match event.first("UID").map(value::unescape) {
            Some(uid) if !uid.trim().is_empty() => (uid.trim().to_string(), false),
            _ => (generated_uid(block), true),
        };
        if alone.as_deref() == Some(uid.as_str()) {
            let mut series = expand::Series::new(uid, generated);
            series.add(event);
            series.expand(&window, &mut feed);
            if !hand_over(&mut feed) {
                return Ok(feed);
            }
        } else {
            shared
                .entry(uid.clone())
                .or_insert_with(|| expand::Series::new(uid, generated))
                .add(event);
        }
    }
    drop(blocks);
    for s in shared.into_values() {
        s.expand(&window, &mut feed);
        if !hand_over(&mut feed) {
            return Ok(feed);
        }
    }
    if !feed.occurrences.is_empty() {
        let _ = part(std::mem::take(&mut feed.occurrences));
    }
    Ok(feed)
}

/// For each block, its UID when no other block of the feed carries the same one (and the
/// event may be expanded on its own), `None` when it shares its UID or has none the
/// cheap reading below finds. The UID is read from the text, without parsing the
/// event: a block whose parsed UID turns out to differ is treated as sharing.
fn uids_alone(blocks: &[String]) -> Vec<Option<String>> {
    let uids: Vec<Option<String>> = blocks
        .iter()
        .map(|b| match written_uid(b) {
            Some(uid) if !uid.is_empty() => Some(uid.to_string()),
            Some(_) => None,
            None => Some(generated_uid(b)),
        })
        .collect();
    let mut count: HashMap<&str, u32> = HashMap::with_capacity(uids.len());
    for uid in uids.iter().flatten() {
        *count.entry(uid).or_default() += 1;
    }
    let alone: Vec<bool> =
        uids.iter().map(|u| u.as_deref().is_some_and(|u| count[u] == 1)).collect();
    drop(count);
    uids.into_iter().zip(alone).map(|(uid, alone)| uid.filter(|_| alone)).collect()
}

/// The value of a block's first UID line as written (trimmed), without parsing the
/// rest: the text after the first colon outside a quoted parameter value.
fn written_uid(block: &str) -> Option<&str> {
    block.lines().find_map(|line| {
        let name_end = line.find([';', ':'])?;
        if !line[..name_end].trim().eq_ignore_ascii_case("UID") {
            return None;
        }
        let mut quoted = false;
        let colon = line[name_end..].char_indices().find_map(|(i, c)| match c {
            '"' => {
                quoted = !quoted;
                None
            }
            ':' if !quoted => Some(name_end + i),
            _ => None,
        })?;
        Some(line[colon + 1..].trim())
    })
}

/// Whether `text` (without a byte order mark) says it is iCalendar at all.
pub(crate) fn is_icalendar(text: &str) -> bool {
    // found at the start of every real feed: no upper-cased copy of the whole text
    const BEGIN: &[u8] = b"BEGIN:VCALENDAR";
    text.as_bytes().windows(BEGIN.len()).any(|w| w.eq_ignore_ascii_case(BEGIN))
}

/// One property as written: name in capitals, parameters, raw (still escaped) value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prop {
    pub name: String,
    pub params: Vec<(String, String)>,
    pub value: String,
}

impl Prop {
    pub(crate) fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    fn value_is(&self, kind: &str) -> bool {
        self.param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case(kind))
    }
}

/// The properties of one VEVENT, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    pub props: Vec<Prop>,
}

impl Event {
    fn first_prop(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    fn first(&self, name: &str) -> Option<&str> {
        self.first_prop(name).map(|p| p.value.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }
}

/// Cuts `text` into the unfolded lines of each `name` component (`VEVENT`,
/// `VTIMEZONE`). Components nested in it are kept when `keep_nested` (a VTIMEZONE's
/// STANDARD and DAYLIGHT) and dropped otherwise (a VEVENT's VALARMs: alarms never change
/// an occurrence, and a broken one must not cost the event). Reading component by
/// component, instead of handing the whole text to the parser at once, keeps one
/// malformed line from failing the entire feed.
fn component_blocks(text: &str, name: &str, keep_nested: bool) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    let mut nested = 0usize;
    for line in unfolded_lines(text) {
        let line = line.trim_end_matches('\r');
        let trimmed = line.trim();
        let Some(block) = current.as_mut() else {
            if is_delimiter(trimmed, "BEGIN:", name) {
                current = Some(format!("{line}\n"));
            }
            continue;
        };
        let closes = nested == 0 && is_delimiter(trimmed, "END:", name);
        let keep = if trimmed.is_empty() {
            false
        } else if starts_with_ignore_case(trimmed, "BEGIN:") {
            nested += 1;
            keep_nested
        } else if nested > 0 && starts_with_ignore_case(trimmed, "END:") {
            nested -= 1;
            keep_nested
        } else {
            nested == 0 || keep_nested
        };
        if keep {
            block.push_str(line);
            block.push('\n');
        }
        if closes {
            blocks.extend(current.take());
        }
    }
    blocks
}

/// Whether the trimmed `line` is `keyword` (`BEGIN:`, `END:`) followed by `name`, in
/// any case. Compared in place: this runs on every line of the feed.
fn is_delimiter(line: &str, keyword: &str, name: &str) -> bool {
    line.len() == keyword.len() + name.len()
        && starts_with_ignore_case(line, keyword)
        && line.as_bytes()[keyword.len()..].eq_ignore_ascii_case(name.as_bytes())
}

fn starts_with_ignore_case(line: &str, prefix: &str) -> bool {
    line.as_bytes().get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The lines of `text`, unfolded (RFC 5545 §3.1): a line break (CRLF or LF) followed by
/// one space or tab continues the line, and the three are dropped. A line that is not
/// folded is borrowed from `text`; only a folded one is copied, so the feed is not
/// copied as a whole.
fn unfolded_lines(text: &str) -> impl Iterator<Item = Cow<'_, str>> {
    let mut lines = text.lines().peekable();
    std::iter::from_fn(move || {
        let mut line = Cow::Borrowed(lines.next()?);
        while let Some(more) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
            line.to_mut().push_str(&more[1..]);
        }
        Some(line)
    })
}

/// Parses one VEVENT block, as cut by [`component_blocks`], line by line. A line that is
/// not a content line costs the event: what it would have said is unknown.
fn parse_event(block: &str) -> Result<Event, String> {
    let mut props = Vec::new();
    // line 1 is BEGIN:VEVENT; the block ends with END:VEVENT
    for (index, line) in block.lines().enumerate().skip(1) {
        if line.trim().eq_ignore_ascii_case("END:VEVENT") {
            break;
        }
        let prop = content::parse(line).map_err(|bad| unparsable(block, index, bad))?;
        if prop.name == "BEGIN" || prop.name == "END" {
            // nested components are cut out already: this one opens or closes nothing
            return Err(unparsable(block, index, format!("a stray `{}` line", prop.name)));
        }
        props.push(prop);
    }
    Ok(Event { props })
}

/// The problem for an event whose line `index` (from 0) cannot be read: where, and why,
/// but not the line itself, which may hold a customer's name or number.
fn unparsable(block: &str, index: usize, why: impl std::fmt::Display) -> String {
    let event = match written_uid(block).filter(|u| !u.is_empty()) {
        Some(uid) => format!("event `{uid}`"),
        None => "the event".to_string(),
    };
    format!("an event could not be parsed (line {} of {event}, {why}); it was skipped", index + 1)
}

/// A stand-in UID for an event that has none: a digest of its text without the lines
/// that change on every export (DTSTAMP and the like), so the event keeps its identity
/// between imports for as long as it is not edited.
fn generated_uid(block: &str) -> String {
    use sha2::{Digest, Sha256};
    const VOLATILE: &[&str] = &["DTSTAMP", "LAST-MODIFIED", "CREATED", "SEQUENCE"];
    let mut digest = Sha256::new();
    for line in block.lines() {
        let name = line.split([':', ';']).next().unwrap_or_default().trim();
        if !VOLATILE.iter().any(|v| name.eq_ignore_ascii_case(v)) {
            digest.update(line.trim_end().as_bytes());
            digest.update(b"\n");
        }
    }
    format!("generated-{}", hex::encode(&digest.finalize()[..12]))
}

#[cfg(test)]
mod tests;
