-- What a customer wrote that reminderd did not understand ("reply unclear"), for staff
-- to read in the report: the text, with the appointment it was about. Personal data:
-- erased with the appointment's contact details (`reminderd forget`, the nightly
-- purge).
create table customer_notes (
    id bigint generated always as identity primary key,
    appointment_id bigint not null references appointments (id) on delete cascade,
    message_id text not null unique,
    text text not null,
    received_at timestamptz not null
);
create index customer_notes_appointment on customer_notes (appointment_id, received_at);
