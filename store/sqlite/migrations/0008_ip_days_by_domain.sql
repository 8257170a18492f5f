-- The sending IPs of one domain (summary --by sending-ip --domain, the
-- dashboard's domain page) without scanning every domain's: ip_days is
-- keyed by IP first. failed_sessions is in the index, so it covers the read.
CREATE INDEX ip_days_by_domain ON ip_days (policy_domain, day, failed_sessions);
