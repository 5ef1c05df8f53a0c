-- +migrate Up
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  body TEXT NOT NULL DEFAULT ''
);
INSERT INTO notes (id, title, body) VALUES
  (1, 'First note', 'hello'),
  (2, 'Second Note', 'world'),
  (3, 'A third, longer note', '!');

-- +migrate Down
DROP TABLE notes;
