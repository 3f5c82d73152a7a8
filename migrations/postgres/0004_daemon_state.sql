-- Small facts the daemon keeps about itself, by key: for now the digest of the rules it
-- last planned with, so a restart with unchanged rules does not re-plan every upcoming
-- appointment.
create table daemon_state (
    key text primary key,
    value text not null,
    updated_at timestamptz not null
);
