-- migrate:up
ALTER TABLE notes ADD COLUMN slug TEXT NOT NULL DEFAULT '';

-- migrate:down
ALTER TABLE notes DROP COLUMN slug;
