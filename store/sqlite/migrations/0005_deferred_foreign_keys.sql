-- The foreign keys of policies and failure details are checked at the
-- commit, as the reports' one to their inputs already was. A batch writes
-- each table with multi-row statements, parents before children; with
-- immediate keys SQLite must be able to undo a single statement and keeps a
-- statement journal for each, and the way around that, PRAGMA
-- defer_foreign_keys at the start of every transaction, expires every
-- prepared statement of the connection (SQLite does so for any flag
-- pragma), so that each batch compiled its statements again.
--
-- SQLite cannot change a constraint in place: both tables are rebuilt
-- (https://sqlite.org/lang_altertable.html#otheralter), with foreign key
-- enforcement off while migrations run (migrate).
CREATE TABLE policies_new (
	report_id           INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	position            INTEGER NOT NULL,
	policy_type         TEXT    NOT NULL,
	policy_domain       TEXT    NOT NULL,
	policy_string       TEXT    NOT NULL, -- lines joined by LF
	mx_host             TEXT    NOT NULL, -- patterns joined by LF
	successful_sessions INTEGER NOT NULL,
	failed_sessions     INTEGER NOT NULL,
	PRIMARY KEY (report_id, position)
) WITHOUT ROWID;
INSERT INTO policies_new (report_id, position, policy_type, policy_domain, policy_string, mx_host,
	successful_sessions, failed_sessions)
SELECT report_id, position, policy_type, policy_domain, policy_string, mx_host,
	successful_sessions, failed_sessions
FROM policies ORDER BY report_id, position;

CREATE TABLE failure_details_new (
	report_id              INTEGER NOT NULL,
	policy_position        INTEGER NOT NULL,
	position               INTEGER NOT NULL,
	result_type            TEXT    NOT NULL,
	sending_mta_ip         TEXT    NOT NULL,
	receiving_mx_hostname  TEXT    NOT NULL,
	receiving_mx_helo      TEXT    NOT NULL,
	receiving_ip           TEXT    NOT NULL,
	failed_sessions        INTEGER NOT NULL,
	additional_information TEXT    NOT NULL,
	failure_reason_code    TEXT    NOT NULL,
	PRIMARY KEY (report_id, policy_position, position),
	FOREIGN KEY (report_id, policy_position) REFERENCES policies (report_id, position)
		ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
) WITHOUT ROWID;
INSERT INTO failure_details_new (report_id, policy_position, position, result_type, sending_mta_ip,
	receiving_mx_hostname, receiving_mx_helo, receiving_ip, failed_sessions, additional_information,
	failure_reason_code)
SELECT report_id, policy_position, position, result_type, sending_mta_ip,
	receiving_mx_hostname, receiving_mx_helo, receiving_ip, failed_sessions, additional_information,
	failure_reason_code
FROM failure_details ORDER BY report_id, policy_position, position;

DROP TABLE failure_details;
DROP TABLE policies;
ALTER TABLE policies_new RENAME TO policies;
ALTER TABLE failure_details_new RENAME TO failure_details;
CREATE INDEX policies_domain ON policies (policy_domain, report_id);
