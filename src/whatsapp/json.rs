//! Lenient reading of Meta's JSON: the same field is a string in one payload and a
//! number in another, so the webhook parser and the answer reader share these.

use serde_json::Value;

/// `v[key]` when it is a string.
pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// An identifier: a string as given, or a JSON number written in decimal (template
/// ids are integers; some fixtures write phone numbers as numbers).
pub(crate) fn ident(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer given as a JSON integer or as a string of decimal digits.
pub(crate) fn integer(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
