//! The list of free times as the customer sees it: one section per day ("wo 15 okt"),
//! one row per time ("09:00", with the practitioner), and a last row "Geen van deze
//! tijden" that asks staff to call. Each row's id is a signed [`SlotChoice`].

use chrono_tz::Tz;

use super::availability::Slot;
use super::settings::OfferTexts;
use crate::domain::time::{dutch_date_short, local_time};
use crate::domain::{PayloadKey, SlotChoice};
use crate::whatsapp::message::{ListMessage, ListRow, ListSection};

/// Meta's limit on rows in one list; one is "none of these".
pub const MAX_TIMES: usize = 9;

/// Who the offer is for, and how it is written.
#[derive(Clone, Copy, Debug)]
pub struct Offer<'a> {
    pub to: &'a str,
    pub appointment_id: i64,
    pub zone: Tz,
    pub key: &'a PayloadKey,
    pub texts: &'a OfferTexts,
    pub practice: &'a str,
}

/// The list offering `slots` (the first [`MAX_TIMES`]).
pub fn offer_list(offer: Offer<'_>, slots: &[Slot], callback_data: String) -> ListMessage {
    let Offer { to, appointment_id, zone, key, texts, practice } = offer;
    let mut sections: Vec<ListSection> = Vec::new();
    for slot in slots.iter().take(MAX_TIMES) {
        let day = dutch_date_short(slot.start, zone);
        let row = ListRow {
            id: SlotChoice { appointment_id, start: Some(slot.start.timestamp()) }.encode(key),
            title: local_time(slot.start, zone),
            description: slot.label.clone(),
        };
        match sections.last_mut() {
            Some(section) if section.title == day => section.rows.push(row),
            _ => sections.push(ListSection { title: day, rows: vec![row] }),
        }
    }
    sections.push(ListSection {
        title: texts.other.clone(),
        rows: vec![ListRow {
            id: SlotChoice { appointment_id, start: None }.encode(key),
            title: texts.none_fits.clone(),
            description: Some(texts.none_fits_description.clone()),
        }],
    });
    ListMessage {
        to: to.to_string(),
        header: Some(texts.header.clone()),
        body: texts.body.clone(),
        footer: Some(practice.chars().take(60).collect()),
        button: texts.button.clone(),
        sections,
        callback_data,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};
    use serde_json::json;

    use super::*;
    use crate::whatsapp::message::SendRequest;

    fn slot(start: &str) -> Slot {
        let start: DateTime<Utc> = start.parse().unwrap();
        Slot { start, end: start + Duration::minutes(30), label: Some("Dr. Jansen".into()) }
    }

    #[test]
    fn times_are_grouped_by_day_with_a_last_row_for_none_of_them() {
        let key = PayloadKey::from_secret(b"test secret that is long enough!");
        let slots: Vec<Slot> =
            ["2026-10-15T07:00:00Z", "2026-10-15T09:30:00Z", "2026-10-16T12:00:00Z"]
                .into_iter()
                .map(slot)
                .collect();
        let texts = OfferTexts::default();
        let offer = Offer {
            to: "+31612345678",
            appointment_id: 7,
            zone: chrono_tz::Europe::Amsterdam,
            key: &key,
            texts: &texts,
            practice: "Praktijk De Linde",
        };
        let list = offer_list(offer, &slots, "outbox:12".into());
        let value = serde_json::to_value(SendRequest::list(list).unwrap()).unwrap();
        let sections = &value["interactive"]["action"]["sections"];
        let titles: Vec<_> =
            sections.as_array().unwrap().iter().map(|s| s["title"].clone()).collect();
        assert_eq!(titles, [json!("do 15 okt"), json!("vr 16 okt"), json!("Anders")]);
        assert_eq!(sections[0]["rows"][0]["title"], "09:00");
        assert_eq!(sections[0]["rows"][1]["title"], "11:30");
        assert_eq!(sections[0]["rows"][0]["description"], "Dr. Jansen");
        let id = sections[1]["rows"][0]["id"].as_str().unwrap();
        assert_eq!(
            SlotChoice::decode(id, &key),
            Ok(SlotChoice { appointment_id: 7, start: Some(slots[2].start.timestamp()) })
        );
        let none = sections[2]["rows"][0]["id"].as_str().unwrap();
        assert_eq!(
            SlotChoice::decode(none, &key),
            Ok(SlotChoice { appointment_id: 7, start: None })
        );
        assert_eq!(sections[2]["rows"][0]["title"], "Geen van deze tijden");

        // never more than Meta's ten rows
        let many: Vec<Slot> =
            (0..20).map(|i| slot(&format!("2026-10-15T{:02}:00:00Z", 6 + i % 10))).collect();
        let list = offer_list(offer, &many, "outbox:12".into());
        assert!(SendRequest::list(list).is_ok());
    }
}
