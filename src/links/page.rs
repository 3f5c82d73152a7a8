//! The one page template of the e-mail links.

use askama::Template;

#[derive(Template)]
#[template(path = "link.html")]
pub struct LinkPage {
    pub practice: String,
    pub title: String,
    /// "woensdag 14 oktober om 10:30"; empty when there is no appointment to show.
    pub appointment: String,
    pub location: String,
    pub message: String,
    /// Where the forms post: the same link.
    pub action: String,
    /// The one button, if the page has one.
    pub button: Option<String>,
    pub button_class: &'static str,
    pub slots: Vec<SlotView>,
    pub slots_intro: &'static str,
    pub none_fits: &'static str,
}

/// One free time as a button.
pub struct SlotView {
    pub label: String,
    /// Unix seconds of its start.
    pub value: String,
}

impl LinkPage {
    pub fn new(practice: &str, title: &str) -> LinkPage {
        LinkPage {
            practice: practice.to_string(),
            title: title.to_string(),
            appointment: String::new(),
            location: String::new(),
            message: String::new(),
            action: String::new(),
            button: None,
            button_class: "",
            slots: Vec::new(),
            slots_intro: "Beschikbare tijden:",
            none_fits: "Geen van deze tijden: bel me",
        }
    }
}
