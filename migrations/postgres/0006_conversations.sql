-- Rescheduling: after a tap on "Verzetten" the daemon offers free times in a WhatsApp
-- list (a new kind of outgoing message, `offer`), and keeps one conversation per
-- appointment: what was offered, what the customer chose, what staff decided.
alter table outbox drop constraint outbox_kind_check;
alter table outbox add constraint outbox_kind_check check (kind in ('reminder', 'reply', 'offer'));

create table conversations (
    id bigint generated always as identity primary key,
    appointment_id bigint not null unique references appointments (id) on delete cascade,
    -- the appointment's start when the times were offered
    appointment_start timestamptz not null,
    -- the offered slots, JSON: [{"start": …, "end": …, "label": …}]
    offered text not null,
    -- the end of the offer (the service window the tap on "Verzetten" opened): choices
    -- after it are late
    expires_at timestamptz not null,
    -- the customer's latest message in the conversation: staff's answer goes as free
    -- text within 24 hours of it
    customer_at timestamptz not null,
    state text not null
        check (state in ('offered', 'requested', 'call_back', 'accepted', 'declined', 'expired')),
    requested_start timestamptz,
    requested_end timestamptz,
    requested_label text,
    -- who decided (a staff user's name), for the audit trail
    decided_by text,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index conversations_state on conversations (state);
