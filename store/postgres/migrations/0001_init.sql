-- The PostgreSQL schema: the same tables as SQLite's (store/sqlite), with
-- the MX figures one row per day (PostgreSQL sums them fast enough that
-- SQLite's series are not needed).

CREATE TABLE inputs (
	id          BIGSERIAL PRIMARY KEY,
	sha256      BYTEA   NOT NULL UNIQUE, -- each content is kept once
	size        BIGINT  NOT NULL,
	source      TEXT    NOT NULL,
	origin      TEXT    NOT NULL,
	received_at BIGINT  NOT NULL, -- unix milliseconds
	outcome     TEXT    NOT NULL CHECK (outcome IN ('stored', 'duplicate', 'invalid', 'no-report', 'unauthenticated')),
	stored      INTEGER NOT NULL DEFAULT 0,
	duplicates  INTEGER NOT NULL DEFAULT 0,
	invalid     INTEGER NOT NULL DEFAULT 0,
	error       TEXT    NOT NULL DEFAULT '',
	data        BYTEA   NOT NULL
);
CREATE INDEX inputs_to_reprocess ON inputs (id) WHERE outcome IN ('invalid', 'no-report', 'unauthenticated');

-- Later arrivals of bytes kept already.
CREATE TABLE arrivals (
	id          BIGSERIAL PRIMARY KEY,
	input_id    BIGINT NOT NULL REFERENCES inputs (id),
	source      TEXT   NOT NULL,
	origin      TEXT   NOT NULL,
	received_at BIGINT NOT NULL
);
CREATE INDEX arrivals_input ON arrivals (input_id);

CREATE TABLE input_auth (
	input_id      BIGINT  PRIMARY KEY REFERENCES inputs (id),
	dkim          TEXT    NOT NULL,
	dkim_domain   TEXT    NOT NULL,
	authenticated BOOLEAN NOT NULL,
	reason        TEXT    NOT NULL
);

CREATE TABLE reports (
	id                BIGSERIAL PRIMARY KEY,
	input_id          BIGINT  NOT NULL REFERENCES inputs (id),
	organization_name TEXT    NOT NULL,
	report_id         TEXT    NOT NULL,
	contact_info      TEXT    NOT NULL,
	start_time        BIGINT  NOT NULL, -- unix seconds, UTC
	end_time          BIGINT  NOT NULL,
	warnings          TEXT    NOT NULL DEFAULT '',
	fingerprint       BYTEA   NOT NULL, -- store.Fingerprint
	variant           INTEGER NOT NULL DEFAULT 0,
	trusted           BOOLEAN NOT NULL DEFAULT false,
	UNIQUE (organization_name, report_id, variant),
	-- The dedupe key: the same report arriving at two servers at once is
	-- stored once.
	UNIQUE (organization_name, report_id, fingerprint)
);
CREATE INDEX reports_start ON reports (start_time, id);
CREATE INDEX reports_input ON reports (input_id);
CREATE INDEX reports_trusted ON reports (start_time) WHERE trusted;

CREATE TABLE policies (
	report_id           BIGINT  NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
	position            INTEGER NOT NULL,
	policy_type         TEXT    NOT NULL,
	policy_domain       TEXT    NOT NULL,
	policy_string       TEXT    NOT NULL,
	mx_host             TEXT    NOT NULL,
	successful_sessions BIGINT  NOT NULL,
	failed_sessions     BIGINT  NOT NULL,
	counted             BOOLEAN NOT NULL,
	PRIMARY KEY (report_id, position)
);
CREATE INDEX policies_domain ON policies (policy_domain, report_id);

CREATE TABLE failure_details (
	report_id              BIGINT  NOT NULL,
	policy_position        INTEGER NOT NULL,
	position               INTEGER NOT NULL,
	result_type            TEXT    NOT NULL,
	sending_mta_ip         TEXT    NOT NULL,
	receiving_mx_hostname  TEXT    NOT NULL,
	receiving_mx_helo      TEXT    NOT NULL,
	receiving_ip           TEXT    NOT NULL,
	failed_sessions        BIGINT  NOT NULL,
	additional_information TEXT    NOT NULL,
	failure_reason_code    TEXT    NOT NULL,
	PRIMARY KEY (report_id, policy_position, position),
	FOREIGN KEY (report_id, policy_position) REFERENCES policies (report_id, position) ON DELETE CASCADE
);

-- Rollups, as store.Rollup counts each report's sessions once.
CREATE TABLE domain_days (
	policy_domain TEXT NOT NULL, day BIGINT NOT NULL,
	reports BIGINT NOT NULL, successful_sessions BIGINT NOT NULL, failed_sessions BIGINT NOT NULL,
	PRIMARY KEY (policy_domain, day)
);
CREATE TABLE untrusted_days (
	policy_domain TEXT NOT NULL, day BIGINT NOT NULL,
	reports BIGINT NOT NULL, successful_sessions BIGINT NOT NULL, failed_sessions BIGINT NOT NULL,
	PRIMARY KEY (policy_domain, day)
);
-- The failed sessions of a domain, MX host and result type, day by day, in
-- one row (days ascending, fails beside them): summing a window reads a
-- row per group, not one per group and day (as store/sqlite's mx_series).
CREATE TABLE mx_series (
	policy_domain TEXT NOT NULL, mx_host TEXT NOT NULL, result_type TEXT NOT NULL,
	days BIGINT[] NOT NULL, fails BIGINT[] NOT NULL,
	PRIMARY KEY (policy_domain, mx_host, result_type)
);
-- Two series added up, day by day.
CREATE FUNCTION tlsrpt_series_add(a_days BIGINT[], a_fails BIGINT[], b_days BIGINT[], b_fails BIGINT[],
	OUT days BIGINT[], OUT fails BIGINT[]) LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg(d ORDER BY d), array_agg(f ORDER BY d) FROM (
		SELECT d, sum(f)::bigint AS f FROM (
			SELECT * FROM unnest(a_days, a_fails) AS a(d, f) UNION ALL SELECT * FROM unnest(b_days, b_fails) AS b(d, f)
		) x GROUP BY d
	) y
$$;
CREATE TABLE sender_days (
	policy_domain TEXT NOT NULL, organization_name TEXT NOT NULL, day BIGINT NOT NULL,
	reports BIGINT NOT NULL, successful_sessions BIGINT NOT NULL, failed_sessions BIGINT NOT NULL,
	PRIMARY KEY (policy_domain, organization_name, day)
);
CREATE TABLE ip_days (
	sending_mta_ip TEXT NOT NULL, result_type TEXT NOT NULL, policy_domain TEXT NOT NULL, day BIGINT NOT NULL,
	failed_sessions BIGINT NOT NULL,
	PRIMARY KEY (sending_mta_ip, result_type, policy_domain, day)
);
CREATE INDEX ip_days_by_domain ON ip_days (policy_domain, day);
CREATE TABLE policy_days (
	policy_domain TEXT NOT NULL, policy_type TEXT NOT NULL, mode TEXT NOT NULL, day BIGINT NOT NULL,
	reports BIGINT NOT NULL, successful_sessions BIGINT NOT NULL, failed_sessions BIGINT NOT NULL,
	PRIMARY KEY (policy_domain, policy_type, mode, day)
);
CREATE TABLE domain_policies (
	policy_domain TEXT NOT NULL, policy_type TEXT NOT NULL, policy_string TEXT NOT NULL, mx_host TEXT NOT NULL,
	first_day BIGINT NOT NULL, last_day BIGINT NOT NULL, reports BIGINT NOT NULL,
	PRIMARY KEY (policy_domain, policy_type, policy_string, mx_host)
);

CREATE TABLE marks (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE imap_seen (
	mailbox TEXT NOT NULL, uidvalidity BIGINT NOT NULL, uid BIGINT NOT NULL,
	PRIMARY KEY (mailbox, uidvalidity, uid)
);
