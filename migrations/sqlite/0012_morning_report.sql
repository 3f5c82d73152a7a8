-- The morning e-mail to staff: one row per day (the business zone's date). Inserting the
-- row claims the day, so of several replicas (or a restarted daemon) only one sends it:
-- `sending` under a lease while one tries, `sent` once the SMTP server took it, `failed`
-- (with the reason, for the report's problems) when it did not, which frees the day for
-- the next try. Holds no customer data.
create table morning_report (
    day text primary key,
    state text not null check (state in ('sending', 'sent', 'failed')),
    attempts integer not null default 0,
    lease_until text,
    sent_at text,
    error text,
    updated_at text not null
);
