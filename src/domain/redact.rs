//! Keeping secrets out of what is shown: URLs lose their passwords before they reach a
//! log line, an error message or `check-config`.

/// `postgres://user:pw@host/db` → `postgres://user:[redacted]@host/db`; a URL without
/// a password is returned unchanged.
pub fn url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:[redacted]@{host}"),
        None => url.to_string(),
    }
}

/// `sanne.devries@example.nl` → `s***@example.nl`: enough for staff to tell addresses
/// apart in a log, not enough to write to.
pub fn email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_masked() {
        assert_eq!(email("sanne.devries@example.nl"), "s***@example.nl");
        assert_eq!(email("not an address"), "***");
    }

    #[test]
    fn passwords_are_removed_from_urls() {
        let cases = [
            (
                "postgres://app:hunter2@db:5432/reminderd",
                "postgres://app:[redacted]@db:5432/reminderd",
            ),
            ("https://user:p@ss@example.nl/cal.ics", "https://user:[redacted]@example.nl/cal.ics"),
            ("https://example.nl/cal.ics", "https://example.nl/cal.ics"),
            ("sqlite:///var/lib/reminderd/db", "sqlite:///var/lib/reminderd/db"),
            ("/path/with@at.ics", "/path/with@at.ics"),
        ];
        for (input, expected) in cases {
            assert_eq!(url_password(input), expected, "{input}");
        }
    }
}
