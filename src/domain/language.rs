//! The languages people read reminderd in: Dutch, the default, and English.

use chrono::Locale;
use serde::{Deserialize, Serialize};

/// A language of the texts customers and staff read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Nl,
    En,
}

impl Language {
    /// The tag of the language, as `<html lang>` and Accept-Language write it.
    pub fn code(self) -> &'static str {
        match self {
            Language::Nl => "nl",
            Language::En => "en",
        }
    }

    /// The locale of dates written for people (weekday and month names).
    pub fn locale(self) -> Locale {
        match self {
            Language::Nl => Locale::nl_NL,
            Language::En => Locale::en_GB,
        }
    }

    /// The language an `Accept-Language` header prefers among Dutch and English (by
    /// its quality values; the first listed wins a tie), if it names either.
    pub fn from_accept_language(header: &str) -> Option<Language> {
        let mut best: Option<(f32, Language)> = None;
        for part in header.split(',') {
            let mut fields = part.split(';');
            let tag = fields.next().unwrap_or("").trim().to_ascii_lowercase();
            let primary = tag.split('-').next().unwrap_or("");
            let language = match primary {
                "nl" => Language::Nl,
                "en" => Language::En,
                _ => continue,
            };
            let quality = fields
                .filter_map(|f| f.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, language));
            }
        }
        best.map(|(_, language)| language)
    }
}

#[cfg(test)]
mod tests {
    use super::Language::{self, En, Nl};

    #[test]
    fn accept_language_picks_the_preferred_of_dutch_and_english() {
        let cases: &[(&str, Option<Language>)] = &[
            ("nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7", Some(Nl)),
            ("en-GB,en;q=0.9,nl;q=0.8", Some(En)),
            ("de-DE,de;q=0.9,en;q=0.5", Some(En)),
            ("fr, nl;q=0.4, en;q=0.6", Some(En)),
            ("en;q=0, nl;q=0.1", Some(Nl)),
            ("NL", Some(Nl)),
            ("de, fr", None),
            ("", None),
            ("*", None),
        ];
        for (header, expected) in cases {
            assert_eq!(Language::from_accept_language(header), *expected, "{header}");
        }
    }
}
