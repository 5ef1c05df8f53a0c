-- migrate:up
-- Data migration: slug = lower-case title, ', ' and ' ' as '-' (SQL that SQLite,
-- PostgreSQL and MariaDB all run).
UPDATE notes SET slug = replace(replace(lower(title), ', ', '-'), ' ', '-');

-- migrate:down
UPDATE notes SET slug = '';
