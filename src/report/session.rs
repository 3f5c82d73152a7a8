//! Staff login: argon2 password hashes from the config, and a signed session cookie
//! (HttpOnly, SameSite=Strict, Secure unless disabled for plain-HTTP localhost).

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::domain::keys::Key;

pub const COOKIE: &str = "reminderd_session";
/// The login form's cookie: a random nonce its CSRF token is bound to, so a page of
/// another site cannot post a login (and log a browser in to another account).
pub const LOGIN_COOKIE: &str = "reminderd_login";

/// A staff member allowed to log in.
#[derive(Clone, Debug)]
pub struct StaffAccount {
    pub name: String,
    pub password_hash: String,
    /// The language of this user's pages, if not the report's.
    pub language: Option<crate::domain::Language>,
}

/// Hashes a password for the config (`reminderd hash-password`).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// Checks a login. Runs argon2 (deliberately slow): call it off the async threads.
/// A name that does not exist costs the same time as a wrong password.
pub fn check_login(accounts: &[StaffAccount], name: &str, password: &str) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2zmMw7Bf5nyCKOVNpnmu6LfLr/wxUuxUdGumKTPFeO4";
    let account = accounts.iter().find(|a| a.name == name);
    let hash = account.map_or(DUMMY, |a| a.password_hash.as_str());
    let ok = PasswordHash::new(hash)
        .is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
    ok && account.is_some()
}

/// Bytes of a session cookie's tag, and of a CSRF token.
const SESSION_TAG: usize = 32;
const CSRF_TAG: usize = 24;

/// Signs and reads session cookies.
#[derive(Clone, Debug)]
pub struct Sessions {
    key: Key,
    /// Derives each session's CSRF token.
    csrf: Key,
    pub ttl: chrono::Duration,
    pub secure: bool,
}

impl Sessions {
    pub fn new(secret: &[u8], ttl: chrono::Duration, secure: bool) -> Self {
        Sessions {
            key: Key::derive(secret, "staff session v1"),
            csrf: Key::derive(secret, "staff csrf v1"),
            ttl,
            secure,
        }
    }

    /// The cookie value for `name`, valid until `now + ttl`.
    pub fn issue(&self, name: &str, now: DateTime<Utc>) -> String {
        let body = format!("{}.{}", URL_SAFE_NO_PAD.encode(name), (now + self.ttl).timestamp());
        let tag = URL_SAFE_NO_PAD.encode(self.key.tag(body.as_bytes(), SESSION_TAG));
        format!("{body}.{tag}")
    }

    /// The staff name in a valid, unexpired cookie value.
    pub fn verify(&self, value: &str, now: DateTime<Utc>) -> Option<String> {
        let (body, tag) = value.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if !self.key.verify(body.as_bytes(), &tag, SESSION_TAG) {
            return None;
        }
        let (name, expires) = body.split_once('.')?;
        let expires: i64 = expires.parse().ok()?;
        if now.timestamp() >= expires {
            return None;
        }
        String::from_utf8(URL_SAFE_NO_PAD.decode(name).ok()?).ok()
    }

    /// The token every form of the session carries: bound to the session, so a page
    /// of another site cannot know it (and the cookie is `SameSite=Strict` as well).
    pub fn csrf_token(&self, session: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.csrf.tag(session.as_bytes(), CSRF_TAG))
    }

    /// Whether `token` is the session's CSRF token (compared in constant time).
    pub fn check_csrf(&self, session: &str, token: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(token)
            .is_ok_and(|tag| self.csrf.verify(session.as_bytes(), &tag, CSRF_TAG))
    }

    /// A fresh nonce for a login form, and the token its form carries.
    pub fn login_nonce(&self) -> (String, String) {
        let nonce = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>());
        let token = self.csrf_token(&format!("login:{nonce}"));
        (nonce, token)
    }

    /// Whether `token` is the CSRF token of the login form that set `nonce`.
    pub fn check_login_csrf(&self, nonce: &str, token: &str) -> bool {
        self.check_csrf(&format!("login:{nonce}"), token)
    }

    /// The `Set-Cookie` header value carrying a login form's nonce (for ten minutes).
    pub fn set_login_cookie(&self, nonce: &str) -> String {
        format!(
            "{LOGIN_COOKIE}={nonce}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=600{}",
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` header value for a new session.
    pub fn set_cookie(&self, value: &str) -> String {
        format!(
            "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.ttl.num_seconds(),
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` header value that ends a session.
    pub fn clear_cookie(&self) -> String {
        format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
            if self.secure { "; Secure" } else { "" }
        )
    }
}

/// The session cookie's value from a `Cookie` header.
pub fn cookie_value(header: &str) -> Option<&str> {
    named_cookie(header, COOKIE)
}

/// The value of cookie `name` in a `Cookie` header.
pub fn named_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// Failed logins per account name: after [`Lockout::MAX_FAILURES`] within
/// [`Lockout::WINDOW`], the name is locked for the rest of that window, whatever the
/// password (so guessing is slow, and a locked name says nothing about whether it
/// exists). Kept in memory: each replica counts its own.
#[derive(Clone, Debug, Default)]
pub struct Lockout {
    failures:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<DateTime<Utc>>>>>,
}

impl Lockout {
    pub const MAX_FAILURES: usize = 5;
    pub const WINDOW: chrono::Duration = chrono::Duration::minutes(15);

    /// Whether `name` may try to log in at `now`.
    pub fn allows(&self, name: &str, now: DateTime<Utc>) -> bool {
        let mut failures = self.failures.lock().expect("not poisoned");
        let recent = failures.entry(name.to_lowercase()).or_default();
        recent.retain(|t| now - *t < Self::WINDOW);
        recent.len() < Self::MAX_FAILURES
    }

    pub fn failed(&self, name: &str, now: DateTime<Utc>) {
        let mut failures = self.failures.lock().expect("not poisoned");
        failures.entry(name.to_lowercase()).or_default().push(now);
    }

    pub fn succeeded(&self, name: &str) {
        self.failures.lock().expect("not poisoned").remove(&name.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-10-14T08:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_login_token_belongs_to_its_own_form_only() {
        let sessions =
            Sessions::new(b"a secret key long enough for a test", chrono::Duration::hours(1), true);
        let (nonce, token) = sessions.login_nonce();
        let (other, other_token) = sessions.login_nonce();
        assert_ne!(nonce, other);
        assert!(sessions.check_login_csrf(&nonce, &token));
        assert!(!sessions.check_login_csrf(&nonce, &other_token));
        assert!(!sessions.check_login_csrf(&other, &token));
        assert!(!sessions.check_login_csrf(&nonce, ""));
        // a session's own token is not a login token, nor the other way round
        assert!(!sessions.check_csrf(&nonce, &token));
        let cookie = sessions.set_login_cookie(&nonce);
        assert!(cookie.contains("HttpOnly; SameSite=Strict") && cookie.ends_with("; Secure"));
        assert_eq!(
            named_cookie(&format!("a=1; {LOGIN_COOKIE}={nonce}"), LOGIN_COOKIE),
            Some(&*nonce)
        );
    }

    #[test]
    fn a_hashed_password_logs_in_and_nothing_else_does() {
        let accounts = vec![StaffAccount {
            name: "balie".into(),
            password_hash: hash_password("geheim").unwrap(),
            language: None,
        }];
        assert!(check_login(&accounts, "balie", "geheim"));
        assert!(!check_login(&accounts, "balie", "Geheim"));
        assert!(!check_login(&accounts, "arts", "geheim"));
        assert!(!check_login(&[], "balie", "geheim"));
    }

    #[test]
    fn a_session_is_valid_until_it_expires_and_cannot_be_forged() {
        let sessions =
            Sessions::new(b"0123456789abcdef0123456789abcdef", chrono::Duration::hours(12), true);
        let value = sessions.issue("balie", now());
        assert_eq!(sessions.verify(&value, now()), Some("balie".into()));
        assert_eq!(sessions.verify(&value, now() + chrono::Duration::hours(12)), None);
        // another name with the same tag
        let (_, rest) = value.split_once('.').unwrap();
        let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode("arts"));
        assert_eq!(sessions.verify(&forged, now()), None);
        // a later expiry with the same tag
        let parts: Vec<&str> = value.split('.').collect();
        let extended = format!("{}.{}.{}", parts[0], now().timestamp() + 999_999, parts[2]);
        assert_eq!(sessions.verify(&extended, now()), None);
        // another secret
        let other =
            Sessions::new(b"another secret of thirty-two chars", chrono::Duration::hours(12), true);
        assert_eq!(other.verify(&value, now()), None);
        assert_eq!(sessions.verify("garbage", now()), None);
        // a tag cut to one byte would be guessed in 256 tries: every length but the
        // full one is refused, whatever the bytes
        let (body, tag) = value.rsplit_once('.').unwrap();
        let tag = URL_SAFE_NO_PAD.decode(tag).unwrap();
        for len in [1, 2, 12, 31] {
            let short = format!("{body}.{}", URL_SAFE_NO_PAD.encode(&tag[..len]));
            assert_eq!(sessions.verify(&short, now()), None, "{len} bytes");
        }
    }

    #[test]
    fn five_failures_lock_a_name_for_fifteen_minutes() {
        let lockout = Lockout::default();
        for _ in 0..Lockout::MAX_FAILURES {
            assert!(lockout.allows("balie", now()));
            lockout.failed("Balie", now());
        }
        assert!(!lockout.allows("balie", now() + chrono::Duration::minutes(14)));
        assert!(lockout.allows("arts", now()), "other names are not affected");
        assert!(lockout.allows("balie", now() + chrono::Duration::minutes(15)));
        lockout.failed("arts", now());
        lockout.succeeded("arts");
        assert!(lockout.allows("arts", now()));
    }

    #[test]
    fn a_csrf_token_belongs_to_its_session_only() {
        let sessions =
            Sessions::new(b"0123456789abcdef0123456789abcdef", chrono::Duration::hours(12), true);
        let (anne, piet) = (sessions.issue("anne", now()), sessions.issue("piet", now()));
        let token = sessions.csrf_token(&anne);
        assert!(sessions.check_csrf(&anne, &token));
        assert!(!sessions.check_csrf(&piet, &token), "another session's token");
        assert!(!sessions.check_csrf(&anne, ""));
        assert!(!sessions.check_csrf(&anne, &token[..4]), "a shortened token");
        assert!(!sessions.check_csrf(&anne, "not base64 !"));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure() {
        let sessions =
            Sessions::new(b"0123456789abcdef0123456789abcdef", chrono::Duration::hours(1), true);
        let header = sessions.set_cookie("v");
        for part in ["reminderd_session=v", "HttpOnly", "SameSite=Strict", "Secure", "Max-Age=3600"]
        {
            assert!(header.contains(part), "{header}");
        }
        let plain = Sessions { secure: false, ..sessions };
        assert!(!plain.set_cookie("v").contains("Secure"));
        assert_eq!(cookie_value("a=1; reminderd_session=xyz; b=2"), Some("xyz"));
        assert_eq!(cookie_value("reminderd_sessionx=1"), None);
    }
}
