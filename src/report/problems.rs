//! What needs a person, shown on top of the report and in the morning e-mail: the
//! WhatsApp channel stopped by a token or account error, Meta's messaging limit reached
//! or Meta holding messages back for a limit, the SMTP server down, the morning e-mail
//! not sent, a calendar that failed or was refused, a template Meta does not allow.
//! Each says in staff words what is wrong, since when, and what happens meanwhile, in
//! Dutch or English.
//!
//! All but the first are read from the store, so every replica's report shows what any
//! replica met. (A stopped channel is known to the replica that met the error; the
//! others meet the same error on their next message.)

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::domain::Language;
use crate::domain::time::moment_short;
use crate::scheduler::Dispatcher;
use crate::scheduler::limits::{REACH_WINDOW, Stopped};
use crate::store::{MorningState, Store, StoreError};
use crate::whatsapp::templates::unusable;

/// Meta's error codes that say a limit holds messages back (WHATSAPP.md §4, §5):
/// the number's throughput (130429), the spam-rate restriction (131048), the pair rate
/// to one customer (131056), a messaging limit lowered for template violations (131064).
pub const LIMIT_CODES: [i64; 4] = [130429, 131048, 131056, 131064];

/// How far back failures count as a current problem.
const LOOK_BACK: Duration = Duration::hours(24);

/// What the problems need besides the store: what the dispatcher of this replica knows.
#[derive(Clone, Debug)]
pub struct Watch {
    /// Why the WhatsApp channel is stopped, if it is.
    pub stopped: Option<Stopped>,
    /// Meta's messaging limit as configured (`None`: unlimited).
    pub messaging_limit: Option<u32>,
    pub now: DateTime<Utc>,
}

impl Watch {
    pub fn of(dispatcher: &Dispatcher) -> Watch {
        Watch {
            stopped: dispatcher.channel_stopped(),
            messaging_limit: dispatcher.messaging_limit(),
            now: dispatcher.clock().now(),
        }
    }
}

/// Every problem now, most urgent first.
pub async fn problems(
    store: &Store,
    dispatcher: &Dispatcher,
    zone: Tz,
    language: Language,
) -> Result<Vec<String>, StoreError> {
    problems_at(store, &Watch::of(dispatcher), zone, language).await
}

/// [`problems`] with what the dispatcher knows given (the command line has no running
/// dispatcher).
pub async fn problems_at(
    store: &Store,
    watch: &Watch,
    zone: Tz,
    language: Language,
) -> Result<Vec<String>, StoreError> {
    let en = language == Language::En;
    let at = |t: DateTime<Utc>| moment_short(t, zone, language);
    let now = watch.now;
    let mut out = Vec::new();
    if let Some(stopped) = &watch.stopped {
        let code = stopped.code.map(|c| format!(" (code {c})")).unwrap_or_default();
        out.push(if en {
            format!(
                "WhatsApp has been stopped since {}: {}{code}. No reminders go by WhatsApp \
                 until this is fixed (next try {}).",
                at(stopped.since),
                stopped.reason,
                at(stopped.until),
            )
        } else {
            format!(
                "WhatsApp is gestopt sinds {}: {}{code}. Er gaan geen herinneringen via \
                 WhatsApp tot dit is opgelost (volgende poging {}).",
                at(stopped.since),
                stopped.reason,
                at(stopped.until),
            )
        });
    }
    if let Some(limit) = watch.messaging_limit {
        let window = Duration::from_std(REACH_WINDOW).unwrap_or(Duration::days(1));
        let mut reached: Vec<DateTime<Utc>> =
            store.reached_since(now - window).await?.into_iter().map(|(_, t)| t).collect();
        if reached.len() >= limit as usize && limit > 0 {
            reached.sort();
            // the limit was reached when its last place was taken; a place frees when
            // the customer reached first leaves the moving day
            let since = reached[limit as usize - 1];
            let frees = reached[0] + window;
            out.push(if en {
                format!(
                    "Meta's messaging limit has been reached since {}: WhatsApp may reach \
                     {limit} customers in 24 hours, and it has. Reminders to other customers \
                     wait until a place frees ({}); those that cannot wait go by e-mail \
                     where there is an address.",
                    at(since),
                    at(frees),
                )
            } else {
                format!(
                    "De berichtenlimiet van Meta is bereikt sinds {}: WhatsApp mag {limit} \
                     klanten per 24 uur bereiken, en dat zijn er nu zoveel. Herinneringen aan \
                     andere klanten wachten tot er plaats vrijkomt ({}); wat niet kan wachten \
                     gaat per e-mail als er een adres is.",
                    at(since),
                    at(frees),
                )
            });
        }
    }
    for trouble in store.limit_trouble(&LIMIT_CODES, now - LOOK_BACK).await? {
        let what = limit_words(trouble.code, language);
        let meanwhile = match (trouble.waiting, trouble.failed, en) {
            (w, 0, true) => format!("{w} message(s) wait and are tried again."),
            (w, 0, false) => format!("{w} bericht(en) wachten en worden opnieuw geprobeerd."),
            (w, f, true) => {
                format!("{w} message(s) wait and are tried again; {f} could not be sent.")
            }
            (w, f, false) => format!(
                "{w} bericht(en) wachten en worden opnieuw geprobeerd; {f} konden niet worden \
                 verstuurd."
            ),
        };
        out.push(if en {
            format!(
                "Meta has been holding WhatsApp messages back since {}: {what} (code {}). \
                 {meanwhile}",
                at(trouble.since),
                trouble.code
            )
        } else {
            format!(
                "Meta houdt sinds {} WhatsApp-berichten tegen: {what} (code {}). {meanwhile}",
                at(trouble.since),
                trouble.code
            )
        });
    }
    if let Some(smtp) = store.smtp_trouble(now - LOOK_BACK).await? {
        let mut text = if en {
            format!(
                "The e-mail server (SMTP) has not been taking e-mail since {} ({}). {} e-mail \
                 reminder(s) wait and are tried again.",
                at(smtp.since),
                smtp.detail,
                smtp.waiting
            )
        } else {
            format!(
                "De e-mailserver (SMTP) neemt sinds {} geen e-mail aan ({}). {} \
                 e-mailherinnering(en) wachten en worden opnieuw geprobeerd.",
                at(smtp.since),
                smtp.detail,
                smtp.waiting
            )
        };
        if smtp.gave_up > 0 {
            text.push_str(&if en {
                format!(" {} were given up after repeated tries.", smtp.gave_up)
            } else {
                format!(" {} zijn na herhaalde pogingen opgegeven.", smtp.gave_up)
            });
        }
        out.push(text);
    }
    let today = now.with_timezone(&zone).date_naive();
    if let Some(morning) = store.morning_report(today).await?
        && morning.state == MorningState::Failed
    {
        let error = morning.error.unwrap_or_default();
        out.push(if en {
            format!(
                "This morning's e-mail to staff could not be sent ({error}, last try {}). \
                 When the e-mail server works again, `reminderd morning-report` sends it.",
                at(morning.updated_at)
            )
        } else {
            format!(
                "De ochtendmail van vandaag is niet verstuurd ({error}, laatste poging {}). \
                 Als de e-mailserver weer werkt, verstuurt `reminderd morning-report` hem.",
                at(morning.updated_at)
            )
        });
    }
    for source in store.source_states().await? {
        if let Some(error) = &source.last_error {
            let last_good = match (source.last_success_at, en) {
                (None, true) => "no good import yet".to_string(),
                (None, false) => "nog geen goede import".to_string(),
                (Some(t), true) => format!("last good import {}", at(t)),
                (Some(t), false) => format!("laatste goede import {}", at(t)),
            };
            out.push(if en {
                format!(
                    "Calendar {}: the import fails ({error}); the appointments of the \
                     {last_good} still hold.",
                    source.source
                )
            } else {
                format!(
                    "Agenda {}: de import lukt niet ({error}); de afspraken van de {last_good} \
                     blijven gelden.",
                    source.source
                )
            });
        }
    }
    for template in store.templates().await? {
        if let Some(reason) = unusable(&template) {
            out.push(if en {
                format!("{reason}: reminders with this template wait or go by e-mail.")
            } else {
                format!("{reason}: herinneringen met dit sjabloon wachten of gaan per e-mail.")
            });
        }
    }
    Ok(out)
}

/// What a limit code means, in staff words.
fn limit_words(code: i64, language: Language) -> &'static str {
    match (code, language) {
        (130429, Language::En) => "the number sent more messages per second than Meta allows",
        (130429, Language::Nl) => {
            "het nummer verstuurde meer berichten per seconde dan Meta toestaat"
        }
        (131048, Language::En) => {
            "the number is restricted because earlier messages were blocked or reported as spam"
        }
        (131048, Language::Nl) => {
            "het nummer is beperkt omdat eerdere berichten zijn geblokkeerd of als spam gemeld"
        }
        (131056, Language::En) => "too many messages went to the same customer in a short time",
        (131056, Language::Nl) => "er gingen te veel berichten kort na elkaar naar dezelfde klant",
        (131064, Language::En) => {
            "the messaging limit was lowered because of template category violations"
        }
        (131064, Language::Nl) => {
            "de berichtenlimiet is verlaagd vanwege overtredingen van de sjablooncategorie"
        }
        (_, Language::En) => "a limit of Meta",
        (_, Language::Nl) => "een limiet van Meta",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_code_has_its_own_words_in_both_languages() {
        for language in [Language::Nl, Language::En] {
            let words: std::collections::HashSet<&str> =
                LIMIT_CODES.iter().map(|&c| limit_words(c, language)).collect();
            assert_eq!(words.len(), LIMIT_CODES.len(), "{language:?}");
            assert!(!words.contains(limit_words(1, language)), "{language:?}");
        }
    }
}
