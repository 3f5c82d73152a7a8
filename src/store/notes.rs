//! Customers' messages for staff to read: what reminderd did not understand.

use chrono::{DateTime, Utc};

use super::{Result, Tx, on_tx};

const INSERT: &str = r#"
    insert into customer_notes (appointment_id, message_id, text, received_at)
    values ($1, $2, $3, $4)
    on conflict (message_id) do nothing"#;

/// The longest text kept; WhatsApp allows 4,096 characters.
const MAX_CHARS: usize = 1000;

impl Tx {
    /// Keeps `text` (message `message_id`, about `appointment_id`) for staff; a
    /// redelivered message is kept once.
    pub async fn add_customer_note(
        &mut self,
        appointment_id: i64,
        message_id: &str,
        text: &str,
        received_at: DateTime<Utc>,
    ) -> Result<()> {
        let text: String = text.trim().chars().take(MAX_CHARS).collect();
        on_tx!(self, c => sqlx::query(INSERT).bind(appointment_id).bind(message_id)
            .bind(&text).bind(received_at).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
