-- The core tables: appointments from the sources, the outbox (durable queue of
-- outgoing messages), the inbox of raw webhook deliveries, and per-source import state.
-- Times are UTC, written by the application as RFC 3339 text (which sorts in time order).

create table appointments (
    id integer primary key,
    source text not null,
    external_id text not null,
    starts_at text not null,
    ends_at text not null,
    summary text,
    location text,
    calendar text not null,
    customer_name text,
    customer_phone text,
    phone_is_mobile boolean not null default false,
    customer_email text,
    contact_problem text,
    status text not null default 'scheduled'
        check (status in ('scheduled', 'cancelled', 'removed')),
    reply text not null default 'none'
        check (reply in ('none', 'confirmed', 'cancelled', 'reschedule')),
    reply_at text,
    fingerprint text not null,
    created_at text not null,
    updated_at text not null,
    unique (source, external_id)
);
create index appointments_starts_at on appointments (starts_at);

create table outbox (
    id integer primary key,
    appointment_id integer not null references appointments (id) on delete cascade,
    kind text not null check (kind in ('reminder', 'reply')),
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
    updated_at text not null
);
create index outbox_due on outbox (state, next_attempt_at);
create index outbox_appointment on outbox (appointment_id);

create table inbox (
    id integer primary key,
    provider text not null,
    body blob not null,
    body_sha256 text not null unique,
    received_at text not null,
    processed_at text,
    attempts integer not null default 0,
    error text
);
create index inbox_unprocessed on inbox (id) where processed_at is null;

create table inbox_events (
    key text primary key,
    inbox_id integer not null references inbox (id) on delete cascade,
    applied_at text not null
);

create table source_state (
    source text primary key,
    last_attempt_at text,
    last_success_at text,
    last_error text,
    etag text,
    last_modified text,
    events integer not null default 0
);
