-- The digest of the last imported feed body: a server without ETag or Last-Modified
-- that sends the same bytes again costs no parsing and no writes.
alter table source_state add column body_sha256 text;
-- What the last good import could not read (events skipped), for staff.
alter table source_state add column problems text;
