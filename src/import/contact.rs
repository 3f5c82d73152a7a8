//! Placeholder until the contact extraction module lands.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct ContactRules {}
