-- Counting follows store.Counted: a report's policies for one domain add
-- up, except a tlsa policy that mirrors an sts policy (Microsoft). Schema 5
-- kept the largest figure across policies instead. This migration makes
-- room; the rollups are then rebuilt from the stored reports by Go code in
-- the same transaction (rebuild.go), which also fills in counted and
-- fingerprint.

-- Whether the policy's sessions count in the report's figures.
ALTER TABLE policies ADD COLUMN counted INTEGER NOT NULL DEFAULT 1;

-- A report is known by (organization_name, report_id) and its fingerprint
-- (store.Fingerprint): a reused report-id with other figures is another
-- report, stored as the next variant of the key. SQLite cannot change a
-- table's constraints in place: the table is rebuilt, ids kept
-- (https://sqlite.org/lang_altertable.html#otheralter).
CREATE TABLE reports_new (
	id                INTEGER PRIMARY KEY,
	input_id          INTEGER NOT NULL REFERENCES inputs (id) DEFERRABLE INITIALLY DEFERRED,
	organization_name TEXT    NOT NULL,
	report_id         TEXT    NOT NULL,
	contact_info      TEXT    NOT NULL,
	start_time        INTEGER NOT NULL, -- unix seconds, UTC
	end_time          INTEGER NOT NULL,
	warnings          TEXT    NOT NULL DEFAULT '', -- one per line
	fingerprint       BLOB    NOT NULL,            -- store.Fingerprint
	variant           INTEGER NOT NULL DEFAULT 0,  -- 0, then 1, 2... for each other report under the key
	UNIQUE (organization_name, report_id, variant)
);
INSERT INTO reports_new (id, input_id, organization_name, report_id, contact_info, start_time, end_time, warnings,
	fingerprint, variant)
SELECT id, input_id, organization_name, report_id, contact_info, start_time, end_time, warnings, x'', 0
FROM reports ORDER BY id;
DROP TABLE reports;
ALTER TABLE reports_new RENAME TO reports;
CREATE INDEX reports_start ON reports (start_time);
CREATE INDEX reports_input ON reports (input_id);

-- Sessions per domain, policy type and sts mode, each policy's own: the
-- per-type view of summary and the per-mode failures of readiness.
CREATE TABLE policy_days (
	policy_domain       TEXT    NOT NULL,
	policy_type         TEXT    NOT NULL,
	mode                TEXT    NOT NULL, -- sts: enforce, testing, none or ''; others ''
	day                 INTEGER NOT NULL,
	reports             INTEGER NOT NULL,
	successful_sessions INTEGER NOT NULL,
	failed_sessions     INTEGER NOT NULL,
	PRIMARY KEY (policy_domain, policy_type, mode, day)
) WITHOUT ROWID;

-- Rebuilt by rebuild.go under the new rule.
DELETE FROM domain_days;
DELETE FROM mx_series;
DELETE FROM sender_days;
DELETE FROM ip_days;
