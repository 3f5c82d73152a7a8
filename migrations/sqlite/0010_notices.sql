-- Staff's decision on a requested time reaches a customer whose 24-hour service window
-- has closed as an approved template: a new kind of outgoing message, `notice` (the
-- template's name, language and parameters in `body`). SQLite cannot change a CHECK
-- constraint: the outbox is rebuilt as in 0006, with the indexes of 0001 and 0008.
create table outbox_new (
    id integer primary key,
    appointment_id integer not null references appointments (id) on delete cascade,
    kind text not null check (kind in ('reminder', 'reply', 'offer', 'notice')),
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
create index outbox_error_code on outbox (error_code) where error_code is not null;
create index outbox_delivery_error_code on outbox (delivery_error_code)
    where delivery_error_code is not null;
