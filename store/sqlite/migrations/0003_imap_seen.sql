-- Messages tlsrpt fetch --keep has processed and left in place, so a later
-- run skips them. A UID means something only with its mailbox's UIDVALIDITY
-- (RFC 3501 section 2.3.1.1): when that changes, every message is new again,
-- and the reports already stored are recognised as duplicates.
CREATE TABLE imap_seen (
	mailbox     TEXT    NOT NULL, -- user@server/mailbox
	uidvalidity INTEGER NOT NULL,
	uid         INTEGER NOT NULL,
	PRIMARY KEY (mailbox, uidvalidity, uid)
) WITHOUT ROWID;
