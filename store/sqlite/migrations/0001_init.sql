-- Every input that arrived, whatever became of it, with its bytes as they
-- arrived (so it can be parsed again: tlsrpt reprocess).
CREATE TABLE inputs (
	id          INTEGER PRIMARY KEY,
	sha256      BLOB    NOT NULL,
	size        INTEGER NOT NULL,
	source      TEXT    NOT NULL,
	origin      TEXT    NOT NULL,
	received_at INTEGER NOT NULL, -- unix milliseconds
	outcome     TEXT    NOT NULL CHECK (outcome IN ('stored', 'duplicate', 'invalid', 'no-report')),
	stored      INTEGER NOT NULL DEFAULT 0,
	duplicates  INTEGER NOT NULL DEFAULT 0,
	invalid     INTEGER NOT NULL DEFAULT 0,
	error       TEXT    NOT NULL DEFAULT '',
	data        BLOB    NOT NULL -- last: reading the other columns skips it
);
-- What reprocess reads; the common outcomes are not indexed.
CREATE INDEX inputs_to_reprocess ON inputs (id) WHERE outcome IN ('invalid', 'no-report');

CREATE TABLE reports (
	id                INTEGER PRIMARY KEY,
	-- Deferred: a report is written before the input row that records its
	-- outcome, in the same transaction.
	input_id          INTEGER NOT NULL REFERENCES inputs (id) DEFERRABLE INITIALLY DEFERRED,
	organization_name TEXT    NOT NULL,
	report_id         TEXT    NOT NULL,
	contact_info      TEXT    NOT NULL,
	start_time        INTEGER NOT NULL, -- unix seconds, UTC
	end_time          INTEGER NOT NULL,
	warnings          TEXT    NOT NULL DEFAULT '', -- one per line
	UNIQUE (organization_name, report_id)
);
CREATE INDEX reports_start ON reports (start_time);
-- Foreign-key checks look reports up by input_id.
CREATE INDEX reports_input ON reports (input_id);

-- Policies and failure details are clustered by the report they belong to:
-- they are only ever read a report at a time.
CREATE TABLE policies (
	report_id           INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
	position            INTEGER NOT NULL,
	policy_type         TEXT    NOT NULL,
	policy_domain       TEXT    NOT NULL,
	policy_string       TEXT    NOT NULL, -- lines joined by LF
	mx_host             TEXT    NOT NULL, -- patterns joined by LF
	successful_sessions INTEGER NOT NULL,
	failed_sessions     INTEGER NOT NULL,
	PRIMARY KEY (report_id, position)
) WITHOUT ROWID;
CREATE INDEX policies_domain ON policies (policy_domain, report_id);

CREATE TABLE failure_details (
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
	FOREIGN KEY (report_id, policy_position) REFERENCES policies (report_id, position) ON DELETE CASCADE
) WITHOUT ROWID;

-- Rollups, kept up to date in the transaction that stores a report. Each
-- report counts its sessions once per domain (store.Rollup); day is the UTC
-- day number (unix seconds / 86400) of the report's start.
CREATE TABLE domain_days (
	policy_domain       TEXT    NOT NULL,
	day                 INTEGER NOT NULL,
	reports             INTEGER NOT NULL,
	successful_sessions INTEGER NOT NULL,
	failed_sessions     INTEGER NOT NULL,
	PRIMARY KEY (policy_domain, day)
) WITHOUT ROWID;

-- Keyed with day last, so grouping by domain, MX and result type follows
-- the key and needs no sort.
CREATE TABLE mx_days (
	policy_domain   TEXT    NOT NULL,
	mx_host         TEXT    NOT NULL,
	result_type     TEXT    NOT NULL,
	day             INTEGER NOT NULL,
	failed_sessions INTEGER NOT NULL,
	PRIMARY KEY (policy_domain, mx_host, result_type, day)
) WITHOUT ROWID;
