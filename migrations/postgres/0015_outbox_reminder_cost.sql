-- What a reminder costs to write (see the SQLite migration of the same number): the
-- appointment reference is checked at commit, as on SQLite, and only sent messages
-- have an entry in the message id's unique index.
alter table outbox alter constraint outbox_appointment_id_fkey deferrable initially deferred;
alter table outbox drop constraint outbox_message_id_key;
create unique index outbox_message_id on outbox (message_id) where message_id is not null;
