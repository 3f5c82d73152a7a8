//! Customer phone numbers: normalised to E.164, classified (only mobile numbers can
//! receive WhatsApp), and masked wherever they are shown or logged.

use std::fmt;
use std::str::FromStr;

use phonenumber::{Mode, Type, country};

/// A valid phone number in E.164 form (`+31612345678`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Phone {
    e164: String,
    mobile: bool,
}

/// Why a number could not be used. The text names the input, so staff can fix the
/// calendar entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("`{0}` is not a phone number")]
    NotANumber(String),
    #[error("`{0}` is not a valid phone number for its country")]
    Invalid(String),
    #[error("`{0}` is not a known country code (expected two letters such as NL)")]
    UnknownRegion(String),
}

/// A region (ISO 3166 alpha-2, e.g. `NL`) used for numbers written without a country code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region(country::Id);

impl FromStr for Region {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        country::Id::from_str(&s.trim().to_ascii_uppercase())
            .map(Region)
            .map_err(|_| PhoneError::UnknownRegion(s.to_string()))
    }
}

impl Region {
    /// The two-letter code, as configured.
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl Default for Region {
    fn default() -> Self {
        Region(country::Id::NL)
    }
}

impl Phone {
    /// Parses a number as people write it (`06-12345678`, `+31 6 1234 5678`,
    /// `0031612345678`, `tel:+31612345678`), reading national numbers in `region`.
    pub fn parse(raw: &str, region: Region) -> Result<Phone, PhoneError> {
        let cleaned = raw.trim().trim_start_matches("tel:").trim_start_matches("TEL:");
        // `00` is the international prefix in most of Europe; the parser only knows `+`.
        let cleaned = match cleaned.strip_prefix("00") {
            Some(rest) if !rest.starts_with('0') => format!("+{rest}"),
            _ => cleaned.to_string(),
        };
        if let Some(phone) = dutch_mobile(&cleaned, region) {
            return Ok(phone);
        }
        parse_with_metadata(raw, &cleaned, region)
    }

    /// Rebuilds a number that was stored in E.164 form.
    pub fn from_e164(e164: &str) -> Result<Phone, PhoneError> {
        if !e164.starts_with('+') {
            return Err(PhoneError::NotANumber(e164.to_string()));
        }
        Phone::parse(e164, Region::default())
    }

    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// Whether WhatsApp can reach this number. Landlines are kept for staff to call,
    /// but never sent a WhatsApp message.
    pub fn is_mobile(&self) -> bool {
        self.mobile
    }

    /// The number with its middle hidden, for pages and logs.
    pub fn masked(&self) -> String {
        mask(&self.e164)
    }
}

/// The full parse, with libphonenumber's metadata for every country.
fn parse_with_metadata(raw: &str, cleaned: &str, region: Region) -> Result<Phone, PhoneError> {
    let number = phonenumber::parse(Some(region.0), cleaned)
        .map_err(|_| PhoneError::NotANumber(raw.to_string()))?;
    if !number.is_valid() {
        return Err(PhoneError::Invalid(raw.to_string()));
    }
    let mobile = matches!(
        number.number_type(&phonenumber::metadata::DATABASE),
        Type::Mobile | Type::FixedLineOrMobile
    );
    Ok(Phone { e164: number.format().mode(Mode::E164).to_string(), mobile })
}

/// Dutch mobile numbers (06-1…06-5 and 06-8, nine digits after the 0), which are most
/// of a Dutch practice's customers, read without the metadata parser: it costs about
/// ten microseconds a number, a tenth of a second per 10,000 appointments. Anything
/// else (another country, a landline, a pager range, a stray character) returns `None`
/// and takes the full parse. A test checks both agree.
fn dutch_mobile(cleaned: &str, region: Region) -> Option<Phone> {
    let (international, rest) = match cleaned.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, cleaned),
    };
    if !rest.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '/')) {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    let national = if international {
        digits.strip_prefix("31")?
    } else if region == Region::default() {
        digits.strip_prefix('0')?
    } else {
        return None;
    };
    let bytes = national.as_bytes();
    let mobile_range =
        bytes.len() == 9 && bytes[0] == b'6' && matches!(bytes[1], b'1'..=b'5' | b'8');
    mobile_range.then(|| Phone { e164: format!("+31{national}"), mobile: true })
}

impl fmt::Display for Phone {
    /// Displays the masked form: a full number is never printed by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks anything phone-like: keeps the first four and last two characters
/// (`+31612345678` → `+316••••••78`).
pub fn mask(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 6 {
        return "•".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "•".repeat(chars.len() - 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_ways_of_writing_a_mobile_number_become_e164() {
        for raw in [
            "06-12345678",
            "0612345678",
            "06 12 34 56 78",
            "+31 6 1234 5678",
            "+31612345678",
            "0031612345678",
            "0031 6 12345678",
            "tel:+31612345678",
            "+31 (0)6 12345678",
        ] {
            let phone =
                Phone::parse(raw, Region::default()).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(phone.e164(), "+31612345678", "{raw}");
            assert!(phone.is_mobile(), "{raw}");
        }
    }

    #[test]
    fn a_landline_is_kept_but_not_mobile() {
        let phone = Phone::parse("020-1234567", Region::default()).unwrap();
        assert_eq!(phone.e164(), "+31201234567");
        assert!(!phone.is_mobile());
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        let phone = Phone::parse("+32 470 12 34 56", Region::default()).unwrap();
        assert_eq!(phone.e164(), "+32470123456");
        assert!(phone.is_mobile());
    }

    #[test]
    fn unusable_numbers_are_reported_with_the_input() {
        for raw in ["", "abc", "12", "06-123"] {
            let err = Phone::parse(raw, Region::default()).unwrap_err();
            assert!(err.to_string().contains(&format!("`{raw}`")), "{err}");
        }
    }

    #[test]
    fn numbers_are_masked_for_display() {
        let phone = Phone::parse("0612345678", Region::default()).unwrap();
        assert_eq!(phone.masked(), "+316••••••78");
        assert_eq!(phone.to_string(), "+316••••••78");
        assert_eq!(mask("123"), "•••");
    }

    #[test]
    fn regions_parse_from_their_iso_code() {
        assert_eq!("nl".parse::<Region>().unwrap(), Region::default());
        assert!("XX".parse::<Region>().is_err());
    }

    #[test]
    fn the_dutch_mobile_shortcut_agrees_with_the_full_parser() {
        let nl = Region::default();
        let mut checked = 0;
        for second in b'0'..=b'9' {
            for tail in ["0000000", "1234567", "9876543", "5550123", "9999999"] {
                let nsn = format!("6{}{tail}", second as char);
                for written in [
                    format!("0{nsn}"),
                    format!("0{}-{}", &nsn[..1], &nsn[1..]),
                    format!("+31 {} {} {}", &nsn[..1], &nsn[1..5], &nsn[5..]),
                    format!("+31{nsn}"),
                    format!("0{} {} {} {}", &nsn[..1], &nsn[1..3], &nsn[3..6], &nsn[6..]),
                ] {
                    let full = parse_with_metadata(&written, &written, nl).ok();
                    let fast = dutch_mobile(&written, nl);
                    if matches!(second, b'1'..=b'5' | b'8') {
                        assert!(fast.is_some(), "{written}: a mobile range the shortcut must take");
                        assert_eq!(fast, full, "{written}: the shortcut and the parser disagree");
                        checked += 1;
                    } else {
                        assert_eq!(fast, None, "{written}: not a mobile range");
                    }
                }
            }
        }
        assert!(checked >= 100, "{checked}");
        // other countries and other regions never take the shortcut
        assert_eq!(dutch_mobile("+32470123456", nl), None);
        assert_eq!(dutch_mobile("0612345678", "BE".parse().unwrap()), None);
        assert_eq!(dutch_mobile("0612345678x", nl), None);
    }
}
