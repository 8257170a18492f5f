-- Rollups for readiness and the summary views, kept like those of 0001: each
-- report counts its sessions once per domain (store.Rollup).

-- Per sending organisation: reporters per domain, summary --by sender.
CREATE TABLE sender_days (
	policy_domain       TEXT    NOT NULL,
	organization_name   TEXT    NOT NULL,
	day                 INTEGER NOT NULL,
	reports             INTEGER NOT NULL,
	successful_sessions INTEGER NOT NULL,
	failed_sessions     INTEGER NOT NULL,
	PRIMARY KEY (policy_domain, organization_name, day)
) WITHOUT ROWID;

-- Per sending MTA IP and result type: summary --by sending-ip, which groups
-- by IP and result type across the domains asked for, in key order.
CREATE TABLE ip_days (
	sending_mta_ip  TEXT    NOT NULL,
	result_type     TEXT    NOT NULL,
	policy_domain   TEXT    NOT NULL,
	day             INTEGER NOT NULL,
	failed_sessions INTEGER NOT NULL,
	PRIMARY KEY (sending_mta_ip, result_type, policy_domain, day)
) WITHOUT ROWID;

-- Each distinct policy the senders applied to a domain, and when.
CREATE TABLE domain_policies (
	policy_domain TEXT    NOT NULL,
	policy_type   TEXT    NOT NULL,
	policy_string TEXT    NOT NULL,
	mx_host       TEXT    NOT NULL,
	first_day     INTEGER NOT NULL,
	last_day      INTEGER NOT NULL,
	reports       INTEGER NOT NULL,
	PRIMARY KEY (policy_domain, policy_type, policy_string, mx_host)
) WITHOUT ROWID;

-- Named positions, such as the last report check-new has looked at.
CREATE TABLE marks (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;

-- backfill: from the reports stored before this migration.
INSERT INTO sender_days
SELECT p.policy_domain, r.organization_name, r.start_time / 86400, count(*), sum(p.s), sum(p.f)
FROM (SELECT report_id, policy_domain, max(successful_sessions) AS s, max(failed_sessions) AS f
      FROM policies GROUP BY report_id, policy_domain) AS p
JOIN reports r ON r.id = p.report_id
GROUP BY 1, 2, 3;

INSERT INTO ip_days
SELECT x.ip, x.rt, x.policy_domain, r.start_time / 86400, sum(x.f)
FROM (SELECT report_id, policy_domain, ip, rt, max(f) AS f
      FROM (SELECT d.report_id, p.policy_domain, d.sending_mta_ip AS ip, d.result_type AS rt,
                   d.policy_position, sum(d.failed_sessions) AS f
            FROM failure_details d
            JOIN policies p ON p.report_id = d.report_id AND p.position = d.policy_position
            GROUP BY d.report_id, d.policy_position, ip, rt)
      GROUP BY report_id, policy_domain, ip, rt) AS x
JOIN reports r ON r.id = x.report_id
GROUP BY 1, 2, 3, 4;

INSERT INTO domain_policies
SELECT p.policy_domain, p.policy_type, p.policy_string, p.mx_host,
       min(r.start_time / 86400), max(r.start_time / 86400), count(*)
FROM policies p JOIN reports r ON r.id = p.report_id
GROUP BY 1, 2, 3, 4;
