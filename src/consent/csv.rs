//! `reminderd consent import file.csv`: consents a practice already holds (a paper form,
//! a booking system's export), read with a header row naming the columns:
//!
//! ```text
//! phone;email;channel;status;evidence
//! 06-12345678;;whatsapp;ja;intakeformulier 2026-03-02
//! ;sanne@example.nl;email;opted_in;
//! ```
//!
//! `phone` or `email` (or both), `status` (`opted_in`/`opted_out`, or yes/no in Dutch
//! or English); `channel` defaults to WhatsApp when there is a phone number, else e-mail;
//! `evidence` defaults to the file and line. `,` or `;` separates (Excel in Dutch writes
//! `;`). Every row that cannot be used is reported with its line and the reason; the
//! others are accepted.

use super::ConsentInput;
use crate::domain::{ConsentMethod, NewConsent, Region};

/// What a file holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CsvReading {
    pub accepted: Vec<NewConsent>,
    /// (line number, why the row was rejected)
    pub rejected: Vec<(u64, String)>,
}

/// Reads `text` (the content of `file`, named in the evidence) in `region`, recorded by
/// `by`. Errors only for a file that cannot be read at all (no header, no columns).
pub fn read(text: &str, file: &str, region: Region, by: &str) -> Result<CsvReading, String> {
    let text = text.trim_start_matches('\u{feff}');
    let header = text.lines().next().unwrap_or_default();
    let delimiter = if header.contains(';') && !header.contains(',') { b';' } else { b',' };
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("{file}: no header row: {e}"))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (phone, email) = (column("phone"), column("email"));
    let status = column("status").ok_or_else(|| {
        format!("{file}: the header row has no `status` column (found: {})", join(&headers))
    })?;
    if phone.is_none() && email.is_none() {
        return Err(format!(
            "{file}: the header row has neither a `phone` nor an `email` column (found: {})",
            join(&headers)
        ));
    }
    let (channel, evidence) = (column("channel"), column("evidence"));
    let mut reading = CsvReading::default();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                reading.rejected.push((line, format!("cannot be read: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).filter(|v| !v.is_empty());
        let row = ConsentInput {
            phone: cell(phone),
            email: cell(email),
            channel: cell(channel),
            status: cell(Some(status)),
            evidence: cell(evidence),
        };
        match row.check(region, ConsentMethod::Csv) {
            Ok(mut consent) => {
                consent.evidence =
                    Some(consent.evidence.unwrap_or_else(|| format!("{file} line {line}")));
                consent.recorded_by = by.to_string();
                reading.accepted.push(consent);
            }
            Err(reason) => reading.rejected.push((line, reason)),
        }
    }
    Ok(reading)
}

fn join(headers: &::csv::StringRecord) -> String {
    headers.iter().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConsentChannel, ConsentStatus};

    fn nl() -> Region {
        "NL".parse().unwrap()
    }

    #[test]
    fn good_rows_are_accepted_and_every_bad_one_is_named_with_its_line() {
        let text = "\u{feff}Phone;Email;Channel;Status;Evidence\n\
                    06-12345678;;whatsapp;ja;intakeformulier\n\
                    ;Sanne@Example.nl;;opted_in;\n\
                    0031687654321;;;nee;\n\
                    020-1234567;;whatsapp;ja;\n\
                    06-1234;;;ja;\n\
                    06-12345678;;sms;ja;\n\
                    06-12345678;;;misschien;\n\
                    ;;;ja;\n\
                    ;geen-adres;email;ja;\n";
        let reading = read(text, "toestemming.csv", nl(), "anne").unwrap();
        let accepted: Vec<_> = reading
            .accepted
            .iter()
            .map(|c| {
                (
                    c.phone.as_deref().or(c.email.as_deref()).unwrap(),
                    c.channel,
                    c.status,
                    c.evidence.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            accepted,
            [
                (
                    "+31612345678",
                    ConsentChannel::Whatsapp,
                    ConsentStatus::OptedIn,
                    "intakeformulier"
                ),
                (
                    "sanne@example.nl",
                    ConsentChannel::Email,
                    ConsentStatus::OptedIn,
                    "toestemming.csv line 3"
                ),
                (
                    "+31687654321",
                    ConsentChannel::Whatsapp,
                    ConsentStatus::OptedOut,
                    "toestemming.csv line 4"
                ),
            ]
        );
        assert!(
            reading
                .accepted
                .iter()
                .all(|c| c.method == ConsentMethod::Csv && c.recorded_by == "anne")
        );
        let rejected: Vec<(u64, &str)> =
            reading.rejected.iter().map(|(line, why)| (*line, why.as_str())).collect();
        let expect = [
            (5, "not a mobile number"),
            (6, "not a usable number"),
            (7, "neither `whatsapp` nor `email`"),
            (8, "status `misschien`"),
            (9, "needs an e-mail address"),
            (10, "not an e-mail address"),
        ];
        assert_eq!(rejected.len(), expect.len(), "{rejected:?}");
        for ((line, why), (want_line, want)) in rejected.iter().zip(expect) {
            assert_eq!(*line, want_line, "{why}");
            assert!(why.contains(want), "line {line}: {why}");
        }
    }

    #[test]
    fn commas_work_too_and_a_file_without_the_needed_columns_is_refused() {
        let reading = read("phone,status\n+31612345678,opted_out\n", "a.csv", nl(), "x").unwrap();
        assert_eq!(reading.accepted[0].status, ConsentStatus::OptedOut);
        let e = read("telefoon,status\n0612345678,ja\n", "b.csv", nl(), "x").unwrap_err();
        assert!(e.contains("neither a `phone` nor an `email`") && e.contains("telefoon"), "{e}");
        let e = read("phone\n0612345678\n", "c.csv", nl(), "x").unwrap_err();
        assert!(e.contains("no `status` column"), "{e}");
    }
}
