-- Rescheduling: after a tap on "Verzetten" the daemon offers free times in a WhatsApp
-- list (a new kind of outgoing message, `offer`), and keeps one conversation per
-- appointment: what was offered, what the customer chose, what staff decided.
--
-- SQLite cannot change a CHECK constraint, so the outbox is rebuilt with the new kind
-- (the documented 12-step way; no other table references the outbox).
create table outbox_new (
    id integer primary key,
    appointment_id integer not null references appointments (id) on delete cascade,
    kind text not null check (kind in ('reminder', 'reply', 'offer')),
    rule text not null,
    dedup_key text not null unique,
    appointment_start text not null,
    due_at text not null,
    state text not null default 'pending'
        check (state in ('pending', 'sending', 'sent', 'failed', 'skipped', 'cancelled')),
    attempts integer not null default 0,
    next_attempt_at text not null,
    lease_until text,
    body text,
    reply_to text,
    channel text,
    message_id text unique,
    sent_at text,
    error_code integer,
    detail text,
    delivery text check (delivery in ('sent', 'delivered', 'read', 'failed')),
    delivery_at text,
    delivery_error_code integer,
    created_at text not null,
    updated_at text not null,
    plan_note text
);
insert into outbox_new (
    id, appointment_id, kind, rule, dedup_key, appointment_start, due_at, state, attempts,
    next_attempt_at, lease_until, body, reply_to, channel, message_id, sent_at, error_code,
    detail, delivery, delivery_at, delivery_error_code, created_at, updated_at, plan_note)
select
    id, appointment_id, kind, rule, dedup_key, appointment_start, due_at, state, attempts,
    next_attempt_at, lease_until, body, reply_to, channel, message_id, sent_at, error_code,
    detail, delivery, delivery_at, delivery_error_code, created_at, updated_at, plan_note
from outbox;
drop table outbox;
alter table outbox_new rename to outbox;
create index outbox_due on outbox (state, next_attempt_at);
create index outbox_appointment on outbox (appointment_id);

create table conversations (
    id integer primary key,
    appointment_id integer not null unique references appointments (id) on delete cascade,
    -- the appointment's start when the times were offered
    appointment_start text not null,
    -- the offered slots, JSON: [{"start": …, "end": …, "label": …}]
    offered text not null,
    -- the end of the offer (the service window the tap on "Verzetten" opened): choices
    -- after it are late
    expires_at text not null,
    -- the customer's latest message in the conversation: staff's answer goes as free
    -- text within 24 hours of it
    customer_at text not null,
    state text not null
        check (state in ('offered', 'requested', 'call_back', 'accepted', 'declined', 'expired')),
    requested_start text,
    requested_end text,
    requested_label text,
    -- who decided (a staff user's name), for the audit trail
    decided_by text,
    created_at text not null,
    updated_at text not null
);
create index conversations_state on conversations (state);
