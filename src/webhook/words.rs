//! What a customer's free text means, for the few things a reminder conversation needs:
//! yes, no, stop, start — in Dutch and English, as people type them on a phone (any
//! case, with punctuation and emoji). Anything else is unclear and goes to a person.
//!
//! Deliberately narrow: a wrong "yes" confirms an appointment nobody will come to, so
//! only short messages that are clearly one thing count. A negation wins over a yes
//! ("ja, maar ik kan niet" is a no).

/// What a text asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Confirm,
    Cancel,
    /// No more WhatsApp messages.
    Stop,
    /// WhatsApp messages again.
    Start,
    Unclear,
}

/// Whole messages that mean stop or start (after [`normalize`]).
const STOP: &[&str] = &[
    "stop",
    "stoppen",
    "stop berichten",
    "stoppen met berichten",
    "stop met berichten",
    "geen berichten meer",
    "geen berichten",
    "afmelden",
    "uitschrijven",
    "unsubscribe",
    "opt out",
    "optout",
];
const START: &[&str] = &["start", "aanmelden", "opnieuw aanmelden", "subscribe", "opt in"];

/// Words that mean yes, alone or as the first words of a short message.
const YES: &[&str] = &[
    "ja",
    "jazeker",
    "jawel",
    "yes",
    "yep",
    "ok",
    "oke",
    "okay",
    "prima",
    "goed",
    "akkoord",
    "bevestig",
    "bevestigd",
    "bevestigen",
    "ik kom",
    "ik ben er",
    "ik zal er zijn",
    "confirm",
    "confirmed",
    "i will be there",
    "see you",
    "tot dan",
];
/// Words that mean no wherever they stand.
const NO: &[&str] = &[
    "nee",
    "neen",
    "no",
    "niet",
    "not",
    "annuleer",
    "annuleren",
    "annulering",
    "cancel",
    "afzeggen",
    "zeg af",
    "kan niet",
    "can't",
    "cannot",
];

/// Longer than this many words is a story for a person, not a yes or a no.
const MAX_WORDS: usize = 8;

/// What `text` asks for.
pub fn understand(text: &str) -> Intent {
    let text = normalize(text);
    if text.is_empty() {
        return Intent::Unclear;
    }
    if STOP.contains(&text.as_str()) {
        return Intent::Stop;
    }
    if START.contains(&text.as_str()) {
        return Intent::Start;
    }
    if text.split(' ').count() > MAX_WORDS {
        return Intent::Unclear;
    }
    let has = |phrase: &str| {
        let padded = format!(" {text} ");
        padded.contains(&format!(" {phrase} "))
    };
    if NO.iter().any(|w| has(w)) {
        return Intent::Cancel;
    }
    if YES.iter().any(|w| has(w)) {
        return Intent::Confirm;
    }
    // a thumbs up, alone
    if text == "👍" {
        return Intent::Confirm;
    }
    Intent::Unclear
}

/// Lower case, letters, digits, spaces and a few emoji; punctuation becomes space, runs
/// of spaces one; "oké" becomes "oke".
fn normalize(text: &str) -> String {
    let mapped: String = text
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ë' | 'ê' => 'e',
            '\'' | '’' => '\'',
            c if c.is_alphanumeric() || c == '👍' => c,
            _ => ' ',
        })
        .collect();
    // "can't" keeps its apostrophe; other apostrophes were spaces already
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_customers_type() {
        let cases = [
            // yes
            ("Ja", Intent::Confirm),
            ("ja!", Intent::Confirm),
            ("JA hoor, ik kom 😊", Intent::Confirm),
            ("Bevestigd", Intent::Confirm),
            ("Oké, tot dan", Intent::Confirm),
            ("ik kom", Intent::Confirm),
            ("Yes, I will be there", Intent::Confirm),
            ("👍", Intent::Confirm),
            // no
            ("Nee", Intent::Cancel),
            ("nee, ik kom niet", Intent::Cancel),
            ("Ja maar ik kan niet", Intent::Cancel),
            ("Annuleer graag", Intent::Cancel),
            ("Ik wil annuleren", Intent::Cancel),
            ("I can't make it", Intent::Cancel),
            ("cancel", Intent::Cancel),
            // stop and start, only as the whole message
            ("STOP", Intent::Stop),
            ("stop", Intent::Stop),
            ("STOP!", Intent::Stop),
            ("Stop.", Intent::Stop),
            ("Afmelden", Intent::Stop),
            ("stoppen met berichten", Intent::Stop),
            ("Geen berichten meer!", Intent::Stop),
            ("START", Intent::Start),
            ("Aanmelden", Intent::Start),
            // everything else is for a person
            ("", Intent::Unclear),
            ("   ", Intent::Unclear),
            ("Kan ik een uur later komen?", Intent::Unclear),
            ("Hoe laat was het ook alweer?", Intent::Unclear),
            ("Waar moet ik parkeren", Intent::Unclear),
            ("jaaa", Intent::Unclear),
            (
                "Ja ik kom maar ik wilde nog even vragen of ik mijn verwijsbrief mee moet nemen",
                Intent::Unclear,
            ),
            ("stop de herinnering voor morgen maar niet de rest", Intent::Unclear),
        ];
        for (text, expected) in cases {
            assert_eq!(understand(text), expected, "{text:?}");
        }
    }
}
