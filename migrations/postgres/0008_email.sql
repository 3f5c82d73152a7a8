-- E-mail: a reminder WhatsApp cannot carry gets an e-mail twin in the outbox (the same
-- kind, `channel = 'email'`, dedup key `email:<reminder id>`), so no new table is
-- needed. Before choosing WhatsApp the dispatcher asks whether a message to the same
-- customer failed for good (131026, …): these partial indexes hold only the few rows
-- with an error code, so the question costs a lookup, not a scan.
create index outbox_error_code on outbox (error_code) where error_code is not null;
create index outbox_delivery_error_code on outbox (delivery_error_code)
    where delivery_error_code is not null;
