//! Secrets in settings: read leniently (the environment provider turns digit-only
//! values into numbers), never written back (`check-config` prints `[redacted]`).

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serializer};

/// Accepts a string or a number: environment values such as a phone number id are read
/// as numbers by the environment provider.
pub fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        S(String),
        I(i128),
        F(f64),
    }
    Ok(match Lenient::deserialize(d)? {
        Lenient::S(s) => s,
        Lenient::I(i) => i.to_string(),
        Lenient::F(f) => f.to_string(),
    })
}

/// An optional secret; an empty value is no secret.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let s = lenient_string(d)?;
    Ok((!s.is_empty()).then(|| SecretString::from(s)))
}

/// `[redacted]` when set, empty when not.
pub fn serialize<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_str("[redacted]"),
        None => s.serialize_str(""),
    }
}
