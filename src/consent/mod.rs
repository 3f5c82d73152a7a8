//! The ways into the consent ledger besides the import and the webhook: a CSV file
//! (`reminderd consent import`) and an authenticated JSON API for booking sites
//! (`POST /api/consents`). The ledger itself is `store::consents`; its types are
//! `domain::consent`.

pub mod api;
pub mod csv;

use crate::domain::consent::normalise_email;
use crate::domain::{ConsentChannel, ConsentMethod, ConsentStatus, NewConsent, Phone, Region};
use crate::import::contact::yes_or_no;

/// The ledger's key for what a person typed: an e-mail address lowercased, a phone
/// number in E.164 (read in `region`).
pub fn address_key(who: &str, region: Region) -> Result<String, String> {
    if who.contains('@') {
        normalise_email(who).ok_or_else(|| format!("`{who}` is not an e-mail address"))
    } else {
        Phone::parse(who, region).map(|p| p.e164().to_string()).map_err(|e| {
            format!("`{who}` is neither an e-mail address nor a usable phone number: {e}")
        })
    }
}

/// A consent as a person or another system writes it, before it is checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConsentInput<'a> {
    /// Any format `Phone::parse` reads in the business region.
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    /// `whatsapp` or `email`; by default WhatsApp when a phone number is given.
    pub channel: Option<&'a str>,
    /// `opted_in`/`opted_out`, or yes/no in Dutch or English.
    pub status: Option<&'a str>,
    pub evidence: Option<&'a str>,
}

impl ConsentInput<'_> {
    /// The consent to record, or what is wrong with it in words. `recorded_by` is left
    /// for the caller.
    pub fn check(&self, region: Region, method: ConsentMethod) -> Result<NewConsent, String> {
        let phone = match self.phone {
            None => None,
            Some(raw) => {
                let phone = Phone::parse(raw, region)
                    .map_err(|e| format!("phone `{raw}` is not a usable number: {e}"))?;
                Some(phone)
            }
        };
        let email = match self.email {
            None => None,
            Some(raw) => Some(
                normalise_email(raw).ok_or_else(|| format!("`{raw}` is not an e-mail address"))?,
            ),
        };
        let channel = match self.channel {
            Some(c) => c
                .to_ascii_lowercase()
                .parse::<ConsentChannel>()
                .map_err(|_| format!("channel `{c}` is neither `whatsapp` nor `email`"))?,
            None if phone.is_some() => ConsentChannel::Whatsapp,
            None => ConsentChannel::Email,
        };
        let status = match self.status {
            None => return Err("no status".into()),
            Some(s) => s
                .to_ascii_lowercase()
                .parse::<ConsentStatus>()
                .ok()
                .or_else(|| {
                    yes_or_no(s).map(|yes| {
                        if yes { ConsentStatus::OptedIn } else { ConsentStatus::OptedOut }
                    })
                })
                .ok_or_else(|| format!("status `{s}` is not opted_in or opted_out (or ja/nee)"))?,
        };
        match (channel, &phone, &email) {
            (ConsentChannel::Whatsapp, None, _) => {
                return Err("a WhatsApp consent needs a phone number".into());
            }
            (ConsentChannel::Whatsapp, Some(p), _) if !p.is_mobile() => {
                return Err(format!(
                    "{} is not a mobile number, so WhatsApp cannot reach it",
                    crate::domain::phone::mask(p.e164())
                ));
            }
            (ConsentChannel::Email, _, None) => {
                return Err("an e-mail consent needs an e-mail address".into());
            }
            _ => {}
        }
        Ok(NewConsent {
            phone: phone.map(|p| p.e164().to_string()),
            email,
            channel,
            status,
            method,
            evidence: self.evidence.map(str::to_string),
            recorded_by: String::new(),
        })
    }
}
