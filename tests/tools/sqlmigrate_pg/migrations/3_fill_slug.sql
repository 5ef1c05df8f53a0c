-- +migrate Up
-- Data migration: slug = lower-case title, runs of non-alphanumerics as '-'.
UPDATE notes SET slug = trim(both '-' from replace(replace(lower(title), ', ', '-'), ' ', '-'));

-- +migrate Down
UPDATE notes SET slug = '';
