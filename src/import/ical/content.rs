//! Content lines (RFC 5545 §3.1), read from one unfolded line:
//!
//! ```text
//! contentline = name *(";" param) ":" value
//! param       = param-name "=" param-value *("," param-value)
//! param-value = paramtext / quoted-string
//! ```
//!
//! Only the structure is read here. The value stays as written, still escaped: what a
//! backslash means depends on the property's type, which `super::value` knows. The
//! reading is lenient where that cannot change what a line says (spaces around a name, a
//! parameter without `=`) and strict where it could: a line whose value cannot be told
//! apart from its parameters (no `:`, an unclosed quote) is refused, so that its event is
//! skipped instead of imported with a wrong time or address.

use super::Prop;

/// Why a line is not a content line, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {problem}")]
pub(super) struct BadLine {
    /// Counted in characters, from 1.
    column: usize,
    problem: Problem,
}

/// What is wrong with a line. The messages never quote the line: it may hold a
/// customer's name or number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum Problem {
    #[error("the line has no `:` before its value")]
    NoColon,
    #[error("the line has no property name")]
    NoName,
    #[error("the property name has a character a name cannot have")]
    BadName,
    #[error("a parameter has no name")]
    NoParamName,
    #[error("a parameter name has a character a name cannot have")]
    BadParamName,
    #[error("a quoted parameter value has no closing `\"`")]
    UnclosedQuote,
    #[error("a quoted parameter value is followed by something other than `,`, `;` or `:`")]
    TextAfterQuote,
}

impl BadLine {
    fn at(line: &str, offset: usize, problem: Problem) -> Self {
        BadLine { column: line[..offset].chars().count() + 1, problem }
    }
}

/// Reads one unfolded content line: the name and parameter names in capitals, a
/// parameter's value without its quotes when it is one quoted string (several values
/// stay as written, commas and quotes included, so that no value is lost), and the value
/// as written.
pub(super) fn parse(line: &str) -> Result<Prop, BadLine> {
    let bytes = line.as_bytes();
    let name_end = find(bytes, 0, |b| matches!(b, b';' | b':'))
        .ok_or_else(|| BadLine::at(line, line.len(), Problem::NoColon))?;
    let name = name_in(line, 0, name_end, Problem::NoName, Problem::BadName)?;
    let mut params = Vec::new();
    let mut at = name_end;
    while bytes[at] == b';' {
        let (param, next) = param(line, at + 1)?;
        params.push(param);
        at = next;
    }
    // `param` stops only at `;` or `:`
    Ok(Prop { name: name.to_ascii_uppercase(), params, value: line[at + 1..].to_string() })
}

/// Reads the parameter that starts at `start` (just after its `;`). Returns it and the
/// offset of the `;` or `:` that ends it.
fn param(line: &str, start: usize) -> Result<((String, String), usize), BadLine> {
    let bytes = line.as_bytes();
    let no_colon = || BadLine::at(line, line.len(), Problem::NoColon);
    let name_end = find(bytes, start, |b| matches!(b, b'=' | b';' | b':')).ok_or_else(no_colon)?;
    let key = name_in(line, start, name_end, Problem::NoParamName, Problem::BadParamName)?
        .to_ascii_uppercase();
    if bytes[name_end] != b'=' {
        // `;RSVP:`: RFC 5545 wants a value, but a missing one leaves nothing ambiguous
        return Ok(((key, String::new()), name_end));
    }
    let values = name_end + 1;
    let mut at = values;
    let mut count = 0;
    // the text between the quotes of the last quoted value
    let mut inner = None;
    loop {
        count += 1;
        if bytes.get(at) == Some(&b'"') {
            // a quoted string may hold `:`, `;` and `,`; it ends at the next quote
            let close = find(bytes, at + 1, |b| b == b'"')
                .ok_or_else(|| BadLine::at(line, at, Problem::UnclosedQuote))?;
            inner = Some(&line[at + 1..close]);
            at = close + 1;
            match bytes.get(at) {
                Some(b',' | b';' | b':') => {}
                Some(_) => return Err(BadLine::at(line, at, Problem::TextAfterQuote)),
                None => return Err(no_colon()),
            }
        } else {
            at = find(bytes, at, |b| matches!(b, b',' | b';' | b':')).ok_or_else(no_colon)?;
        }
        if bytes[at] != b',' {
            break;
        }
        at += 1;
    }
    let value = match inner {
        Some(inner) if count == 1 => inner,
        _ => &line[values..at],
    };
    Ok(((key, value.to_string()), at))
}

/// The name in `line[start..end]`, without the spaces or tabs around it.
fn name_in(
    line: &str,
    start: usize,
    end: usize,
    empty: Problem,
    bad: Problem,
) -> Result<&str, BadLine> {
    let written = &line[start..end];
    let name = written.trim_start_matches([' ', '\t']);
    let offset = start + written.len() - name.len();
    let name = name.trim_end_matches([' ', '\t']);
    if name.is_empty() {
        return Err(BadLine::at(line, offset, empty));
    }
    match name.char_indices().find(|&(_, c)| !is_name_char(c)) {
        Some((i, _)) => Err(BadLine::at(line, offset + i, bad)),
        None => Ok(name),
    }
}

/// RFC 5545 names are letters, digits and `-`. The `_`, `.`, `/`, `,` and non-ASCII
/// letters some exporters write are accepted too, as the `icalendar` crate did: refusing
/// them would cost the whole event over a property nobody reads.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ',')
}

/// The offset of the first byte from `from` on that `hit` accepts. The delimiters are
/// ASCII, so an offset found in the bytes is always a character boundary.
fn find(bytes: &[u8], from: usize, hit: impl Fn(u8) -> bool) -> Option<usize> {
    bytes.get(from..)?.iter().position(|&b| hit(b)).map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line that is read, and its name, parameters and value.
    type Read = (&'static str, &'static str, &'static [(&'static str, &'static str)], &'static str);

    const READ: &[Read] = &[
        ("SUMMARY:Controle", "SUMMARY", &[], "Controle"),
        ("summary:kleine letters", "SUMMARY", &[], "kleine letters"),
        ("X-PHONE:0612345678", "X-PHONE", &[], "0612345678"),
        ("x-wr-calname:Praktijk", "X-WR-CALNAME", &[], "Praktijk"),
        // a value may hold colons
        ("DESCRIPTION:Tel: 06-12345678", "DESCRIPTION", &[], "Tel: 06-12345678"),
        ("URL:https://example.nl/a?b=c;d", "URL", &[], "https://example.nl/a?b=c;d"),
        // the value stays escaped and untrimmed
        ("LOCATION: Kamer 2\\; boven ", "LOCATION", &[], " Kamer 2\\; boven "),
        ("DESCRIPTION:", "DESCRIPTION", &[], ""),
        ("X-EMPTY;X-A=b:", "X-EMPTY", &[("X-A", "b")], ""),
        // a quoted parameter value may hold `:`, `;` and `,`; its quotes go
        (
            "ATTENDEE;CN=\"Jan: de Vries\":mailto:a@b.nl",
            "ATTENDEE",
            &[("CN", "Jan: de Vries")],
            "mailto:a@b.nl",
        ),
        (
            "ATTENDEE;CN=\"Vries, Jan; de\";ROLE=REQ-PARTICIPANT:tel:+31612345678",
            "ATTENDEE",
            &[("CN", "Vries, Jan; de"), ("ROLE", "REQ-PARTICIPANT")],
            "tel:+31612345678",
        ),
        ("X-A;X-B=\"\":v", "X-A", &[("X-B", "")], "v"),
        // several values stay as written
        (
            "ATTENDEE;DELEGATED-TO=\"mailto:a@b.nl\",\"mailto:c@d.nl\":mailto:e@f.nl",
            "ATTENDEE",
            &[("DELEGATED-TO", "\"mailto:a@b.nl\",\"mailto:c@d.nl\"")],
            "mailto:e@f.nl",
        ),
        ("X-A;TYPE=fax,voice,msg:v", "X-A", &[("TYPE", "fax,voice,msg")], "v"),
        ("X-A;MEMBER=\"a:b\",c:v", "X-A", &[("MEMBER", "\"a:b\",c")], "v"),
        // parameter names in capitals, values as written
        (
            "dtstart;tzid=Europe/Amsterdam:20261020T100000",
            "DTSTART",
            &[("TZID", "Europe/Amsterdam")],
            "20261020T100000",
        ),
        (
            "DTSTART;TZID=W. Europe Standard Time:20261020T100000",
            "DTSTART",
            &[("TZID", "W. Europe Standard Time")],
            "20261020T100000",
        ),
        // no value, or `=` and nothing: an empty value
        ("RELATED-TO;RELTYPE=:c605e4e8", "RELATED-TO", &[("RELTYPE", "")], "c605e4e8"),
        ("ATTENDEE;RSVP;CN=Jan:tel:1", "ATTENDEE", &[("RSVP", ""), ("CN", "Jan")], "tel:1"),
        // spaces and tabs around names are not part of them
        (" UID :a", "UID", &[], "a"),
        ("DTSTART; TZID =UTC:20261020T100000", "DTSTART", &[("TZID", "UTC")], "20261020T100000"),
        ("\tSUMMARY\t:x", "SUMMARY", &[], "x"),
        // names the crate accepted beyond RFC 5545
        ("X-MS_OLK-A:1", "X-MS_OLK-A", &[], "1"),
        ("home.tel:1", "HOME.TEL", &[], "1"),
    ];

    #[test]
    fn content_lines_are_read_into_name_params_and_raw_value() {
        for &(line, name, params, value) in READ {
            let prop = parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            let want: Vec<(String, String)> =
                params.iter().map(|&(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(
                (prop.name.as_str(), &prop.params, prop.value.as_str()),
                (name, &want, value),
                "{line:?}"
            );
        }
    }

    #[test]
    fn lines_that_are_not_content_lines_are_refused_with_what_and_where() {
        use Problem::*;
        let refused: &[(&str, Problem, usize)] = &[
            ("Jansen op 0612345678", NoColon, 21),
            ("", NoColon, 1),
            ("X-A;CN=Jan", NoColon, 11),
            ("X-A;RSVP", NoColon, 9),
            (":value", NoName, 1),
            ("  :value", NoName, 3),
            (";X=y:value", NoName, 1),
            ("Tel 0612: 345678", BadName, 4),
            ("SUMMARY\u{0}:x", BadName, 8),
            ("X-A;=b:v", NoParamName, 5),
            ("X-A;;:v", NoParamName, 5),
            ("X-A;C N=b:v", BadParamName, 6),
            ("ATTENDEE;CN=\"Jan:mailto:a@b.nl", UnclosedQuote, 13),
            ("X-A;B=\"a\",\"b:v", UnclosedQuote, 11),
            ("ATTENDEE;CN=\"Jan\" Jansen:mailto:a@b.nl", TextAfterQuote, 18),
            ("X-A;B=\"a\"", NoColon, 10),
            ("é;X=\"ü", UnclosedQuote, 5),
        ];
        for &(line, problem, column) in refused {
            assert_eq!(parse(line), Err(BadLine { column, problem }), "{line:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_column_but_not_the_text() {
        let message = parse("ATTENDEE;CN=\"Jan Jansen:tel:0612345678").unwrap_err().to_string();
        assert_eq!(message, "column 13: a quoted parameter value has no closing `\"`");
    }
}
