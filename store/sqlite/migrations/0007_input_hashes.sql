-- An input is kept once per content: bytes that arrive again (a re-import,
-- a retry, the same report by mail and by HTTPS) are not stored again; the
-- new arrival is noted in arrivals instead.

-- Which input holds each content, by the first 8 bytes of its SHA-256 as a
-- signed big-endian integer (contentKey): a row of a few bytes, so that a
-- batch's insert finds bytes kept before by the table's key, as a report's
-- insert finds a report stored before, at little cost to every write. A
-- match is confirmed on the input's whole SHA-256; a content whose key is
-- taken by another (a chance of one in 2^64 a pair) is kept without a row
-- here. Filled from the inputs kept so far by rebuild.go, the first input
-- of each content standing for it.
CREATE TABLE input_hashes (
	content_key INTEGER PRIMARY KEY,
	input_id    INTEGER NOT NULL REFERENCES inputs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

-- Each arrival of bytes already kept: when, how and from where.
CREATE TABLE arrivals (
	id          INTEGER PRIMARY KEY,
	input_id    INTEGER NOT NULL REFERENCES inputs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	source      TEXT    NOT NULL,
	origin      TEXT    NOT NULL,
	received_at INTEGER NOT NULL -- unix milliseconds
);
CREATE INDEX arrivals_input ON arrivals (input_id);
