-- What Meta says about each WhatsApp template the rules use: its id, status, category
-- and quality, from `reminderd templates sync/status` and the template webhooks. The
-- dispatcher sends only templates that are approved UTILITY ones (or not known yet).
create table templates (
    name text not null,
    language text not null,
    template_id text,
    status text,
    category text,
    quality text,
    reason text,
    updated_at timestamptz not null,
    primary key (name, language)
);
create index templates_by_id on templates (template_id);
