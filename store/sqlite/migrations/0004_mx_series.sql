-- The MX rollup as one row per policy domain, MX host and result type
-- instead of one per day as well: summary and readiness read every group of
-- the domains they cover, and a row per day made that about six times as
-- many rows. days is the series "DAY:FAILED DAY:FAILED ...", DAY the UTC day
-- number of the reports' start, days ascending and each once (series.go).
-- Each report counts its sessions once per domain (store.Rollup).
CREATE TABLE mx_series (
	policy_domain TEXT NOT NULL,
	mx_host       TEXT NOT NULL,
	result_type   TEXT NOT NULL,
	days          TEXT NOT NULL,
	PRIMARY KEY (policy_domain, mx_host, result_type)
) WITHOUT ROWID;

INSERT INTO mx_series
SELECT policy_domain, mx_host, result_type, group_concat(day || ':' || failed_sessions, ' ' ORDER BY day)
FROM mx_days
GROUP BY policy_domain, mx_host, result_type;

DROP TABLE mx_days;
