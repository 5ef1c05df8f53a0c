-- +migrate Up
ALTER TABLE notes ADD COLUMN slug TEXT NOT NULL DEFAULT '';

-- +migrate Down
ALTER TABLE notes DROP COLUMN slug;
