//! Which channel carries a reminder: one pure decision, so every case is a row of a
//! table test. WhatsApp when the customer opted in (or opt-in is not required and they
//! did not opt out), the number is a mobile one, the template is usable, WhatsApp has
//! not failed for good for this customer, and Meta's messaging limit leaves room in
//! time; e-mail when WhatsApp cannot and the customer has an address, did not opt out of
//! e-mail, and e-mail is configured. A reminder is transactional: e-mail needs no
//! opt-in, only the absence of an opt-out. A rule may name its channels and their order.

use std::fmt;

pub use crate::domain::Channel;
use crate::domain::ConsentStatus;

/// Why WhatsApp cannot carry this reminder, in order of precedence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoWhatsapp {
    /// No phone number, or not a mobile one.
    NoMobile,
    OptedOut,
    /// No opt-in on record while one is required.
    NotOptedIn,
    /// A message to this customer failed for good (131026 "undeliverable", …).
    Failed,
    /// Meta does not allow the template now (paused, disabled, rejected): the reason.
    TemplateUnusable(String),
    /// Meta's messaging limit is reached and no place frees up before the appointment.
    LimitTooClose,
}

impl fmt::Display for NoWhatsapp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoWhatsapp::NoMobile => f.write_str("no mobile number for WhatsApp"),
            NoWhatsapp::OptedOut => f.write_str("the customer opted out of WhatsApp"),
            NoWhatsapp::NotOptedIn => {
                f.write_str("the customer has not opted in to WhatsApp reminders")
            }
            NoWhatsapp::Failed => {
                f.write_str("WhatsApp could not deliver to this customer (a permanent error)")
            }
            NoWhatsapp::TemplateUnusable(reason) => f.write_str(reason),
            NoWhatsapp::LimitTooClose => f.write_str(
                "Meta's messaging limit is reached and no place frees up in time before the \
                 appointment",
            ),
        }
    }
}

/// Why e-mail cannot carry this reminder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoEmail {
    /// `email.enabled` is false.
    Off,
    NoAddress,
    OptedOut,
}

impl fmt::Display for NoEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoEmail::Off => "e-mail is not configured (email.enabled)",
            NoEmail::NoAddress => "no e-mail address for this customer",
            NoEmail::OptedOut => "the customer opted out of e-mail",
        })
    }
}

/// What is known about the customer and the channels when a reminder is due.
#[derive(Clone, Debug)]
pub struct Facts {
    /// The rule's channels, in order of preference.
    pub channels: Vec<Channel>,
    pub mobile: bool,
    /// The latest WhatsApp consent record's status.
    pub whatsapp_consent: Option<ConsentStatus>,
    pub require_opt_in: bool,
    pub whatsapp_failed: bool,
    pub template_unusable: Option<String>,
    pub limit_too_close: bool,
    pub email_enabled: bool,
    pub email_address: bool,
    pub email_opted_out: bool,
}

/// The decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    Whatsapp,
    /// By e-mail, and why not WhatsApp (`None`: the rule prefers e-mail).
    Email(Option<NoWhatsapp>),
    /// Neither can carry it (a channel the rule does not name counts as unavailable).
    Neither {
        whatsapp: Option<NoWhatsapp>,
        email: Option<NoEmail>,
    },
}

impl Facts {
    pub fn no_whatsapp(&self) -> Option<NoWhatsapp> {
        if !self.mobile {
            return Some(NoWhatsapp::NoMobile);
        }
        match self.whatsapp_consent {
            Some(ConsentStatus::OptedOut) => return Some(NoWhatsapp::OptedOut),
            None if self.require_opt_in => return Some(NoWhatsapp::NotOptedIn),
            _ => {}
        }
        if self.whatsapp_failed {
            return Some(NoWhatsapp::Failed);
        }
        if let Some(reason) = &self.template_unusable {
            return Some(NoWhatsapp::TemplateUnusable(reason.clone()));
        }
        self.limit_too_close.then_some(NoWhatsapp::LimitTooClose)
    }

    pub fn no_email(&self) -> Option<NoEmail> {
        if !self.email_enabled {
            Some(NoEmail::Off)
        } else if !self.email_address {
            Some(NoEmail::NoAddress)
        } else if self.email_opted_out {
            Some(NoEmail::OptedOut)
        } else {
            None
        }
    }
}

/// The first of the rule's channels that can carry the reminder.
pub fn choose(facts: &Facts) -> Choice {
    let whatsapp = facts.no_whatsapp();
    let email = facts.no_email();
    for channel in &facts.channels {
        match channel {
            Channel::Whatsapp if whatsapp.is_none() => return Choice::Whatsapp,
            Channel::Email if email.is_none() => return Choice::Email(whatsapp),
            _ => {}
        }
    }
    Choice::Neither { whatsapp, email }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Channel::{Email, Whatsapp};
    use ConsentStatus::{OptedIn, OptedOut};

    fn ok() -> Facts {
        Facts {
            channels: Channel::DEFAULT.to_vec(),
            mobile: true,
            whatsapp_consent: Some(OptedIn),
            require_opt_in: true,
            whatsapp_failed: false,
            template_unusable: None,
            limit_too_close: false,
            email_enabled: true,
            email_address: true,
            email_opted_out: false,
        }
    }

    #[test]
    fn the_channel_is_chosen_by_one_table() {
        let by_email = |why| Choice::Email(Some(why));
        let paused = "template afspraak_herinnering (nl) is PAUSED".to_string();
        #[rustfmt::skip]
        let cases: Vec<(&str, Facts, Choice)> = vec![
            ("opted in, mobile, usable template", ok(), Choice::Whatsapp),
            ("opted in, no e-mail at all", Facts { email_enabled: false, email_address: false, ..ok() }, Choice::Whatsapp),
            ("opt-in not required, nothing on record", Facts { whatsapp_consent: None, require_opt_in: false, ..ok() }, Choice::Whatsapp),
            ("not opted in", Facts { whatsapp_consent: None, ..ok() }, by_email(NoWhatsapp::NotOptedIn)),
            ("opted out of WhatsApp", Facts { whatsapp_consent: Some(OptedOut), require_opt_in: false, ..ok() }, by_email(NoWhatsapp::OptedOut)),
            ("a landline", Facts { mobile: false, ..ok() }, by_email(NoWhatsapp::NoMobile)),
            ("WhatsApp failed for good", Facts { whatsapp_failed: true, ..ok() }, by_email(NoWhatsapp::Failed)),
            ("template paused", Facts { template_unusable: Some(paused.clone()), ..ok() }, by_email(NoWhatsapp::TemplateUnusable(paused.clone()))),
            ("messaging limit, too close", Facts { limit_too_close: true, ..ok() }, by_email(NoWhatsapp::LimitTooClose)),
            ("not opted in, no address", Facts { whatsapp_consent: None, email_address: false, ..ok() },
                Choice::Neither { whatsapp: Some(NoWhatsapp::NotOptedIn), email: Some(NoEmail::NoAddress) }),
            ("not opted in, opted out of e-mail", Facts { whatsapp_consent: None, email_opted_out: true, ..ok() },
                Choice::Neither { whatsapp: Some(NoWhatsapp::NotOptedIn), email: Some(NoEmail::OptedOut) }),
            ("landline, e-mail off", Facts { mobile: false, email_enabled: false, ..ok() },
                Choice::Neither { whatsapp: Some(NoWhatsapp::NoMobile), email: Some(NoEmail::Off) }),
            ("template paused, e-mail off", Facts { template_unusable: Some(paused.clone()), email_enabled: false, ..ok() },
                Choice::Neither { whatsapp: Some(NoWhatsapp::TemplateUnusable(paused.clone())), email: Some(NoEmail::Off) }),
            ("rule prefers e-mail", Facts { channels: vec![Email, Whatsapp], ..ok() }, Choice::Email(None)),
            ("rule prefers e-mail, opted out of it", Facts { channels: vec![Email, Whatsapp], email_opted_out: true, ..ok() }, Choice::Whatsapp),
            ("rule: WhatsApp only, not opted in", Facts { channels: vec![Whatsapp], whatsapp_consent: None, ..ok() },
                Choice::Neither { whatsapp: Some(NoWhatsapp::NotOptedIn), email: None }),
            ("rule: e-mail only", Facts { channels: vec![Email], ..ok() }, Choice::Email(None)),
        ];
        for (case, facts, expected) in cases {
            assert_eq!(choose(&facts), expected, "{case}");
        }
    }
}
