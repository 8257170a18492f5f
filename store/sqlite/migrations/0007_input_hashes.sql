-- An input is kept once per content: bytes that arrive again (a re-import,
-- a retry, the same report by mail and by HTTPS) are not stored again; the
-- new arrival is noted in arrivals instead.

-- Which input holds each content, by SHA-256: one row per content, so that
-- a batch's insert finds bytes kept before by its unique key, as a report's
-- insert finds a report stored before.
CREATE TABLE input_hashes (
	sha256   BLOB    PRIMARY KEY,
	input_id INTEGER NOT NULL REFERENCES inputs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
) WITHOUT ROWID;

-- Inputs kept by earlier versions more than once hold the same bytes: the
-- first of them stands for their content from now on.
INSERT INTO input_hashes (sha256, input_id)
SELECT sha256, min(id) FROM inputs GROUP BY sha256;

-- Each arrival of bytes already kept: when, how and from where.
CREATE TABLE arrivals (
	id          INTEGER PRIMARY KEY,
	input_id    INTEGER NOT NULL REFERENCES inputs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	source      TEXT    NOT NULL,
	origin      TEXT    NOT NULL,
	received_at INTEGER NOT NULL -- unix milliseconds
);
CREATE INDEX arrivals_input ON arrivals (input_id);
