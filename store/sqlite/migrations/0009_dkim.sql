-- Authenticated reports (RFC 8460 section 5.3): the DKIM verification of
-- each mailed input, as it was when the mail arrived (keys rotate: a later
-- run does not redo it unless asked), in a table of its own, since columns
-- added to inputs would come after its bytes.
CREATE TABLE input_auth (
	input_id      INTEGER PRIMARY KEY REFERENCES inputs (id) DEFERRABLE INITIALLY DEFERRED,
	dkim          TEXT    NOT NULL, -- pass, fail, none, temperror
	dkim_domain   TEXT    NOT NULL,
	authenticated INTEGER NOT NULL, -- a signature of the reporter's organisation verified
	reason        TEXT    NOT NULL
) WITHOUT ROWID;

-- A report is trusted when it came by HTTPS or in authenticated mail: what
-- summary and readiness --authenticated-only count.
ALTER TABLE reports ADD COLUMN trusted INTEGER NOT NULL DEFAULT 0;
UPDATE reports SET trusted = 1 WHERE input_id IN (SELECT id FROM inputs WHERE source = 'https');

-- The sessions of the reports that are not trusted, per domain and day: how
-- much of a verdict rests on them, without reading the reports.
CREATE TABLE untrusted_days (
	policy_domain       TEXT    NOT NULL,
	day                 INTEGER NOT NULL,
	reports             INTEGER NOT NULL,
	successful_sessions INTEGER NOT NULL,
	failed_sessions     INTEGER NOT NULL,
	PRIMARY KEY (policy_domain, day)
) WITHOUT ROWID;
INSERT INTO untrusted_days (policy_domain, day, reports, successful_sessions, failed_sessions)
SELECT p.policy_domain, r.start_time / 86400, count(DISTINCT r.id),
	sum(p.successful_sessions * p.counted), sum(p.failed_sessions * p.counted)
FROM reports r JOIN policies p ON p.report_id = r.id
WHERE r.trusted = 0
GROUP BY p.policy_domain, r.start_time / 86400;

-- Mail refused for want of authentication (--dkim require) is kept with the
-- outcome unauthenticated, and parsed again by reprocess.
DROP INDEX inputs_to_reprocess;
CREATE INDEX inputs_to_reprocess ON inputs (id) WHERE outcome IN ('invalid', 'no-report', 'unauthenticated');

-- What --authenticated-only reads: the trusted reports by day, without
-- going through the others (most reports, where mail is not signed).
CREATE INDEX reports_trusted ON reports (start_time) WHERE trusted = 1;
