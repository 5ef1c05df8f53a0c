-- migrate:up
-- Data migration: slug = lower-case title, runs of non-alphanumerics as '-'.
UPDATE notes SET slug = trim(replace(replace(lower(title), ', ', '-'), ' ', '-'), '-');

-- migrate:down
UPDATE notes SET slug = '';
