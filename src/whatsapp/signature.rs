//! Meta's `X-Hub-Signature-256` header: proof that a webhook POST came from Meta.
//!
//! Meta signs every webhook body with HMAC-SHA256, keyed with the app secret, and sends
//! `sha256=<hex digest>` (WHATSAPP.md §3.2). The digest must be computed over the exact
//! bytes received, so callers pass the raw body, never a re-serialised one.
//!
//! Meta's documentation says the signature covers the *escaped-unicode* form of the body
//! (every non-ASCII character written as a JSON `\uXXXX` escape), while bodies with raw
//! UTF-8 have been seen too and some libraries hash the raw bytes. [`verify`] therefore
//! accepts either: the raw bytes first, and, only when that fails and the body holds
//! non-ASCII UTF-8, the escaped form.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The prefix of the header value; Meta writes it in lower case.
const PREFIX: &str = "sha256=";

/// SHA-256 works on 64-byte blocks; HMAC keys are prepared to this length.
const BLOCK: usize = 64;

/// Why a webhook body was not accepted as Meta's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The request carried no `X-Hub-Signature-256` header.
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits.
    #[error("the X-Hub-Signature-256 header is not `sha256=` and 64 hex digits")]
    Malformed,
    /// The header is well formed but does not match the body under our app secret:
    /// a forgery, a body changed on the way, or the wrong app secret in the config.
    #[error("the X-Hub-Signature-256 header does not match the body")]
    Mismatch,
    /// The app secret is empty. Anyone can compute an HMAC under an empty key, so no
    /// body is accepted (config validation should have refused this already).
    #[error("no app secret is configured to check X-Hub-Signature-256 with")]
    NoSecret,
}

/// Checks that `header` (the value of `X-Hub-Signature-256`) signs `body` with
/// `app_secret`.
///
/// The hex digits may be upper or lower case: they encode the same digest, and Meta's
/// documentation does not promise a case, so refusing one would only drop genuine
/// webhooks. Whitespace around the header value is ignored; the `sha256=` prefix must be
/// exact. The digest is compared in constant time.
pub fn verify(app_secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    if app_secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let expected = parse_header(header)?;

    let mut raw = keyed(app_secret);
    raw.update(body);
    if raw.verify_slice(&expected).is_ok() {
        return Ok(());
    }

    // The escaped form differs from the raw bytes only when there is non-ASCII text;
    // a body that is not UTF-8 has no escaped form at all.
    if body.is_ascii() {
        return Err(SignatureError::Mismatch);
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(SignatureError::Mismatch);
    };
    let mut escaped = keyed(app_secret);
    update_escaped(&mut escaped, text);
    escaped.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// The header value Meta would send for `body`: `sha256=` and the lowercase hex
/// HMAC-SHA256 of the raw bytes. Used by tests and by `simulate-tap`.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    let mut mac = keyed(app_secret);
    mac.update(body);
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

/// The 32 digest bytes named by a header value.
fn parse_header(header: &str) -> Result<[u8; 32], SignatureError> {
    let digits = header.trim().strip_prefix(PREFIX).ok_or(SignatureError::Malformed)?;
    let mut digest = [0u8; 32];
    // `decode_to_slice` insists on exactly 64 digits for 32 bytes, either case.
    hex::decode_to_slice(digits, &mut digest).map_err(|_| SignatureError::Malformed)?;
    Ok(digest)
}

/// An HMAC-SHA256 keyed with `secret`, prepared as RFC 2104 says: a key longer than a
/// block is replaced by its hash, then zero-padded to the block. Doing it here makes
/// construction infallible (`new_from_slice` returns a `Result` that cannot fail for HMAC
/// but would still need an `expect`).
fn keyed(secret: &[u8]) -> HmacSha256 {
    let mut key = [0u8; BLOCK];
    if secret.len() > BLOCK {
        let hashed = Sha256::digest(secret);
        key[..hashed.len()].copy_from_slice(&hashed);
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    <HmacSha256 as KeyInit>::new(&key.into())
}

/// Feeds `text` to `mac` in Meta's escaped form: ASCII as is, every other character as
/// JSON `\uXXXX` escapes of its UTF-16 code units (a surrogate pair for characters beyond
/// the Basic Multilingual Plane), with lowercase hex. Streams, so a 3 MB body is never
/// copied.
fn update_escaped(mac: &mut HmacSha256, text: &str) {
    let mut ascii_run = 0;
    for (at, ch) in text.char_indices() {
        if ch.is_ascii() {
            continue;
        }
        mac.update(&text.as_bytes()[ascii_run..at]);
        let mut units = [0u16; 2];
        for unit in ch.encode_utf16(&mut units) {
            mac.update(format!("\\u{unit:04x}").as_bytes());
        }
        ascii_run = at + ch.len_utf8();
    }
    mac.update(&text.as_bytes()[ascii_run..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known answer from Secreto31126/whatsapp-api-js `test/index.test.js` (MIT),
    /// quoted in the conformance README and WHATSAPP.md §3.2.
    const VECTOR_SECRET: &[u8] = b"YOUR_APP_SECRET";
    const VECTOR_BODY: &str = "Let's pretend this body is equal to the message object and can handle unicode characters like みどりいろ and J'ai mangé des pâtes";
    const VECTOR_RAW: &str =
        "sha256=5ab50fefd5b7b7258964d9825904e7916acb73fe8030123871485627791ffbde";
    const VECTOR_ESCAPED: &str =
        "sha256=0363007aabdf1ab579f35936651a460fb5fa1aaf40df98b1264446b72cc96688";

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        for ch in text.chars() {
            if ch.is_ascii() {
                out.push(ch);
            } else {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        out
    }

    #[test]
    fn signing_the_raw_bytes_gives_the_known_answer() {
        assert_eq!(sign(VECTOR_SECRET, VECTOR_BODY.as_bytes()), VECTOR_RAW);
    }

    #[test]
    fn signing_the_escaped_form_gives_the_known_answer() {
        let body = escaped(VECTOR_BODY);
        assert!(body.contains("\\u307f") && body.contains("\\u00e9") && body.contains("\\u00e2"));
        assert_eq!(sign(VECTOR_SECRET, body.as_bytes()), VECTOR_ESCAPED);
    }

    #[test]
    fn the_known_body_is_accepted_with_either_signature() {
        let body = VECTOR_BODY.as_bytes();
        assert_eq!(verify(VECTOR_SECRET, body, Some(VECTOR_RAW)), Ok(()));
        assert_eq!(verify(VECTOR_SECRET, body, Some(VECTOR_ESCAPED)), Ok(()));
    }

    #[test]
    fn the_escaped_signature_is_not_accepted_for_another_body() {
        let body = VECTOR_BODY.replace("pâtes", "pâté");
        assert_eq!(
            verify(VECTOR_SECRET, body.as_bytes(), Some(VECTOR_ESCAPED)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn astral_characters_are_escaped_as_surrogate_pairs() {
        let body = r#"{"emoji":"👍 ok"}"#;
        let meta_form = r#"{"emoji":"\ud83d\udc4d ok"}"#;
        let header = sign(b"secret", meta_form.as_bytes());
        assert_eq!(verify(b"secret", body.as_bytes(), Some(&header)), Ok(()));
        // Uppercase escapes are a different byte string, so a different signature.
        let upper = sign(b"secret", r#"{"emoji":"\uD83D\uDC4D ok"}"#.as_bytes());
        assert_eq!(verify(b"secret", body.as_bytes(), Some(&upper)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_body_signed_with_another_secret_is_refused() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let header = sign(b"someone else's secret", body);
        assert_eq!(verify(b"our secret", body, Some(&header)), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"someone else's secret", body, Some(&header)), Ok(()));
    }

    #[test]
    fn a_changed_body_is_refused() {
        let header = sign(b"k", br#"{"a":1}"#);
        assert_eq!(verify(b"k", br#"{"a":2}"#, Some(&header)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn nothing_is_accepted_under_an_empty_secret() {
        let header = sign(b"", b"{}");
        assert_eq!(verify(b"", b"{}", Some(&header)), Err(SignatureError::NoSecret));
    }

    #[test]
    fn a_missing_header_is_missing() {
        assert_eq!(verify(b"k", b"{}", None), Err(SignatureError::Missing));
    }

    #[test]
    fn malformed_headers_are_malformed() {
        let good = sign(b"k", b"{}");
        let digits = &good[PREFIX.len()..];
        let cases = [
            String::new(),
            "sha256=".to_string(),
            digits.to_string(),                    // no prefix
            format!("sha1={digits}"),              // another algorithm
            format!("SHA256={digits}"),            // prefix in the wrong case
            good[..good.len() - 1].to_string(),    // truncated by one digit
            good[..good.len() - 2].to_string(),    // truncated by one byte
            format!("{good}00"),                   // too long
            format!("sha256={}zz", &digits[..62]), // not hex
            format!("sha256= {digits}"),           // space inside
            format!("sha256={}é", &digits[..63]),  // non-ASCII, must not panic
        ];
        for header in cases {
            assert_eq!(
                verify(b"k", b"{}", Some(&header)),
                Err(SignatureError::Malformed),
                "header {header:?}"
            );
        }
    }

    #[test]
    fn uppercase_hex_digits_are_accepted() {
        let good = sign(b"k", b"{}");
        let upper = format!("{PREFIX}{}", good[PREFIX.len()..].to_ascii_uppercase());
        assert_ne!(upper, good);
        assert_eq!(verify(b"k", b"{}", Some(&upper)), Ok(()));
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        let good = sign(b"k", b"{}");
        assert_eq!(verify(b"k", b"{}", Some(&format!(" {good}\t"))), Ok(()));
    }

    #[test]
    fn a_body_that_is_not_utf8_is_checked_on_its_bytes_only() {
        let body = b"\xff\xfe{}";
        let header = sign(b"k", body);
        assert_eq!(verify(b"k", body, Some(&header)), Ok(()));
        assert_eq!(verify(b"other", body, Some(&header)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn keys_are_prepared_like_the_hmac_crate_does() {
        let long = [7u8; 200];
        for secret in [&b""[..], b"k", &[1u8; 64], &[2u8; 65], &long] {
            let mut ours = keyed(secret);
            ours.update(b"body");
            let mut theirs =
                <HmacSha256 as KeyInit>::new_from_slice(secret).expect("any key length");
            theirs.update(b"body");
            assert_eq!(ours.finalize().into_bytes(), theirs.finalize().into_bytes());
        }
    }
}
