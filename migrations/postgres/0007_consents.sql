-- The consent ledger: append-only, one row per opt-in or opt-out, with how it came in
-- (method), what shows it (evidence) and who recorded it. The current state for a
-- customer and channel is the latest row for the channel's address: the phone number
-- for WhatsApp, the e-mail address for e-mail. Rows are appended and never changed,
-- except that erasing a person's data blanks their address and evidence.
create table consents (
    id bigint generated always as identity primary key,
    phone text,
    email text,
    channel text not null check (channel in ('whatsapp', 'email')),
    scope text not null,
    status text not null check (status in ('opted_in', 'opted_out')),
    method text not null
        check (method in ('feed', 'database', 'csv', 'api', 'whatsapp', 'email_link', 'staff')),
    evidence text,
    recorded_at timestamptz not null,
    recorded_by text not null
);
create index consents_by_phone on consents (phone, channel, recorded_at);
create index consents_by_email on consents (email, channel, recorded_at);
