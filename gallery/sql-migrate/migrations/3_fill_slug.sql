-- +migrate Up
-- Data migration: slug = lower-case title, ', ' and ' ' as '-' (SQL that SQLite,
-- PostgreSQL and MariaDB all run).
UPDATE notes SET slug = replace(replace(lower(title), ', ', '-'), ' ', '-');

-- +migrate Down
UPDATE notes SET slug = '';
