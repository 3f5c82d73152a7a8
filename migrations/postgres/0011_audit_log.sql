-- What staff did, and who: every action from the report (and the command line) that
-- changes an appointment or tells a customer something. Kept with the appointment's
-- anonymous rows; holds no customer data (the appointment's number, not its contact).
create table audit_log (
    id bigint generated always as identity primary key,
    at timestamptz not null,
    staff text not null,
    action text not null,
    appointment_id bigint references appointments (id) on delete set null,
    detail text
);
create index audit_log_appointment on audit_log (appointment_id, at);
