-- Why a reminder goes at another time than its rule's moment (a late booking, the
-- grace delay after a change, quiet hours), in words, for staff and `reminderd explain`.
-- A reminder planned but decided against is stored as `skipped` with the reason in
-- `detail`, so that choice is on record too.
alter table outbox add column plan_note text;
