-- Staff's decision on a requested time reaches a customer whose 24-hour service window
-- has closed as an approved template: a new kind of outgoing message, `notice` (the
-- template's name, language and parameters in `body`).
alter table outbox drop constraint outbox_kind_check;
alter table outbox add constraint outbox_kind_check
    check (kind in ('reminder', 'reply', 'offer', 'notice'));
