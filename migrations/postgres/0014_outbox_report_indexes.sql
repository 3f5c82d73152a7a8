-- What the report's problems read on every page load, without walking the outbox:
-- the customers reached in the last 24 hours (also what the dispatcher counts toward
-- Meta's messaging limit at start) and the e-mails waiting after an SMTP failure. The
-- state leads the first so that a planner without statistics prefers it to outbox_due.
-- Both are partial: the reminders an import plans (pending, no channel yet) are in
-- neither, so an import writes no more than before.
create index outbox_sent_at on outbox (state, sent_at) where state = 'sent';
create index outbox_email on outbox (state, due_at) where channel = 'email';
