-- What a reminder costs to write, which a large first import does 100,000 times:
-- * The appointment reference is checked at commit (deferrable initially deferred), not
--   per statement. An immediate check makes SQLite keep a statement journal (a copy of
--   every page a multi-row insert changes, to undo just that statement) for every
--   batch of reminders; deferred, an import that plans reminders for appointments it
--   has just inserted writes each page once. A dangling reference still fails, at
--   commit, and rolls the whole transaction back.
-- * Only sent messages have a message id: the unique index now holds those alone
--   instead of a NULL entry for every reminder ever planned.
-- SQLite cannot change a column's constraints: the outbox is rebuilt as in 0010, with
-- the indexes of 0001, 0008 and 0014.
create table outbox_new (
    id integer primary key,
    appointment_id integer not null
        references appointments (id) on delete cascade deferrable initially deferred,
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
    message_id text,
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
create index outbox_sent_at on outbox (state, sent_at) where state = 'sent';
create index outbox_email on outbox (state, due_at) where channel = 'email';
create unique index outbox_message_id on outbox (message_id) where message_id is not null;
