#!/usr/bin/env python3
"""Writes the synthetic fixtures under testdata/. Run from the repository root:
python3 testdata/mkfixtures.py. Domains are example.* (RFC 2606); the shapes
and quirks are the ones real senders send (see testdata/README.md)."""
import base64, gzip, io, json, quopri, zipfile, datetime, os

os.chdir(os.path.dirname(os.path.abspath(__file__)))

def report(org, rid, domain, start, end, policies, contact="tlsrpt@reporter.example"):
    r = {"organization-name": org,
         "date-range": {"start-datetime": start, "end-datetime": end},
         "contact-info": contact, "report-id": rid, "policies": policies}
    return r

def sts(domain, mode, mx, ok, fail, details=None, mxhost=None):
    p = {"policy": {"policy-type": "sts",
                    "policy-string": ["version: STSv1", "mode: " + mode] + ["mx: " + m for m in mx] + ["max_age: 86400"],
                    "policy-domain": domain, "mx-host": mxhost if mxhost is not None else mx},
         "summary": {"total-successful-session-count": ok, "total-failure-session-count": fail}}
    if details is not None:
        p["failure-details"] = details
    return p

def fd(rt, count, mx=None, ip=None, rip=None, **extra):
    d = {"result-type": rt, "failed-session-count": count}
    if ip: d["sending-mta-ip"] = ip
    if mx: d["receiving-mx-hostname"] = mx
    if rip: d["receiving-ip"] = rip
    d.update(extra)
    return d

def dump(obj):
    return json.dumps(obj, indent=2).encode()

def gz(b):
    return gzip.compress(b, mtime=0)

def write(path, data):
    with open(path, "wb") as f:
        f.write(data)

# ---- quirks: one file each -------------------------------------------------
q = {}
r = report("Reporter A", "quirk-mx-host-string", "example.com", "2026-03-01T00:00:00Z", "2026-03-01T23:59:59Z",
           [sts("example.com", "testing", ["*.mx.example.com"], 10, 0, mxhost="*.mx.example.com")])
q["mx-host-string.json"] = dump(r)

r = report("Reporter B", "quirk-no-mx-no-policy-string", "example.com", "2026-03-01T00:00:00Z", "2026-03-01T23:59:59Z",
           [{"policy": {"policy-type": "sts", "policy-domain": "example.com"},
             "summary": {"total-successful-session-count": 0, "total-failure-session-count": 2},
             "failure-details": [{"result-type": "sts-policy-fetch-error", "failed-session-count": 2,
                                  "failure-reason-code": "connection timed out"}]}])
q["no-mx-host-no-policy-string.json"] = dump(r)

r = report("Reporter C", "quirk-no-timezone", "example.com", "2026-03-01T00:00:00", "2026-03-01T23:59:59",
           [sts("example.com", "testing", ["mx1.example.com"], 4, 0)])
q["no-timezone.json"] = dump(r)

r = report("Reporter D", "quirk-contact-null", "example.com", "2026-03-01T00:00:00Z", "2026-03-01T23:59:59Z",
           [sts("example.com", "testing", ["mx1.example.com"], 1, 0)], contact=None)
q["contact-info-null.json"] = dump(r)

r = report("Reporter E", "quirk-no-ip-no-mx", "example.com", "2026-03-01T00:00:00Z", "2026-03-01T23:59:59Z",
           [sts("example.com", "testing", ["mx1.example.com"], 0, 3, details=[fd("sts-policy-fetch-error", 3)])])
q["no-sending-ip-no-mx.json"] = dump(r)

tlsa = {"policy": {"policy-type": "tlsa",
                   "policy-string": [json.dumps(["3 1 1 AB12", "3 1 1 CD34"])],
                   "policy-domain": "example.com"},
        "summary": {"total-successful-session-count": 20, "total-failure-session-count": 5},
        "failure-details": [fd("certificate-expired", 5, mx="mx1.example.com")]}
stsp = sts("example.com", "testing", ["mx1.example.com"], 20, 5, details=[fd("certificate-expired", 5, mx="mx1.example.com")])
del stsp["policy"]["mx-host"]
r = report("Reporter F", "quirk-sts-and-tlsa", "example.com", "2026-03-01T00:00:00Z", "2026-03-01T23:59:59Z", [stsp, tlsa])
q["sts-and-tlsa-same-sessions.json"] = dump(r)

r = report("Reporter G", "quirk-details-exceed", "example.com", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z",
           [sts("example.com", "testing", ["mx1.example.com"], 0, 1,
                details=[fd("sts-policy-fetch-error", 1), fd("sts-policy-fetch-error", 2)])])
q["details-exceed-summary.json"] = dump(r)

r = report("Reporter H", "quirk-case-and-dot", "Example.COM.", "2026-03-01T00:00:00Z", "2026-03-01T23:59:59Z",
           [sts("Example.COM.", "testing", ["MX1.Example.com."], 7, 2,
                details=[fd("certificate-host-mismatch", 2, mx="MX1.EXAMPLE.COM.", ip="2001:DB8:0:0::1", rip="::ffff:192.0.2.7",
                            **{"receiving-mx-helo": "Mx1.Example.Com."})])])
q["uppercase-trailing-dot.json"] = dump(r)

r = report("Reporter I", "quirk-unknown-result", "example.com", "2026-03-01T00:00:00Z", "2026-03-01T23:59:59Z",
           [sts("example.com", "testing", ["mx1.example.com"], 3, 1, details=[fd("quantum-tls-downgrade", 1, mx="mx1.example.com")])])
q["unknown-result-type.json"] = dump(r)

for name, data in q.items():
    write("quirks/" + name, data)

# ---- mail: one per transfer encoding and label ---------------------------
base = report("Mail Sender", "mail-REPLACE", "example.net", "2026-03-02T00:00:00Z", "2026-03-02T23:59:59Z",
              [sts("example.net", "testing", ["mx.example.net"], 50, 2,
                   details=[fd("starttls-not-supported", 2, mx="mx.example.net", ip="192.0.2.1")])])

def rep(tag):
    b = json.loads(json.dumps(base)); b["report-id"] = "mail-" + tag
    return dump(b)

def b64(data):
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i:i+76] for i in range(0, len(s), 76))

HDR = ("From: tlsrpt-noreply@reporter.example\r\nTo: tlsrpt@example.net\r\n"
       "Date: Tue, 03 Mar 2026 01:00:00 +0000\r\nSubject: Report Domain: example.net Submitter: reporter.example Report-ID: <{rid}>\r\n"
       "TLS-Report-Domain: example.net\r\nTLS-Report-Submitter: reporter.example\r\nMIME-Version: 1.0\r\n")

def mail(tag, parts):
    out = HDR.format(rid="mail-" + tag)
    out += 'Content-Type: multipart/report; report-type=tlsrpt; boundary="BOUNDARY"\r\n\r\n'
    out += "--BOUNDARY\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is an aggregate TLS report.\r\n"
    for p in parts:
        out += "--BOUNDARY\r\n" + p
    out += "--BOUNDARY--\r\n"
    return out.encode()

def att(ctype, cte, filename, body):
    return (f'Content-Type: {ctype}; name="{filename}"\r\nContent-Transfer-Encoding: {cte}\r\n'
            f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n{body}\r\n')

fn = "reporter.example!example.net!1772409600!1772495999!{}.json"
write("mail/base64-tlsrpt-gzip.eml", mail("b64gz", [att("application/tlsrpt+gzip", "base64", fn.format("b64gz") + ".gz", b64(gz(rep("b64gz"))))]))
write("mail/quoted-printable-tlsrpt-json.eml", mail("qp", [att("application/tlsrpt+json", "quoted-printable", fn.format("qp"),
      quopri.encodestring(rep("qp").replace(b"\n", b"\r\n")).decode())]))
write("mail/7bit-application-json.eml", mail("7bit", [att("application/json", "7bit", fn.format("7bit"), rep("7bit").decode())]))
write("mail/octet-stream-gzip.eml", mail("octet", [att("application/octet-stream", "base64", fn.format("octet") + ".gz", b64(gz(rep("octet"))))]))
write("mail/application-gzip.eml", mail("appgz", [att("application/gzip", "base64", fn.format("appgz") + ".gz", b64(gz(rep("appgz"))))]))
zbuf = io.BytesIO()
with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr(fn.format("zip1"), rep("zip1"))
    z.writestr(fn.format("zip2"), rep("zip2"))
write("mail/application-zip-two-members.eml", mail("zip", [att("application/zip", "base64", "reports.zip", b64(zbuf.getvalue()))]))
write("mail/gzip-label-plain-json.eml", mail("mislabel", [att("application/tlsrpt+gzip", "base64", fn.format("mislabel") + ".gz", b64(rep("mislabel")))]))
write("mail/two-reports.eml", mail("two", [att("application/tlsrpt+gzip", "base64", fn.format("two-a") + ".gz", b64(gz(rep("two-a")))),
                                           att("application/tlsrpt+gzip", "base64", fn.format("two-b") + ".gz", b64(gz(rep("two-b"))))]))
inner = mail("fwd", [att("application/tlsrpt+gzip", "base64", fn.format("fwd") + ".gz", b64(gz(rep("fwd"))))]).decode()
fwd = ("From: Postmaster <postmaster@example.net>\r\nTo: ops@example.net\r\nSubject: Fwd: TLS report\r\n"
       "Date: Wed, 04 Mar 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
       'Content-Type: multipart/mixed; boundary="OUTER"\r\n\r\n--OUTER\r\nContent-Type: text/plain\r\n\r\nSee the attached report.\r\n'
       "--OUTER\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "\r\n--OUTER--\r\n")
write("mail/forwarded-rfc822.eml", fwd.encode())
write("mail/no-report.eml", ("From: someone@example.net\r\nTo: tlsrpt@example.net\r\nSubject: hello\r\n"
                             "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nNot a report.\r\n").encode())
# The same report as one of the mails above, bare: stored once.
write("mail/base64-tlsrpt-gzip.json", rep("b64gz"))

# ---- sample: a small realistic set for the README's first command ---------
import random
rnd = random.Random(8460)
orgs = [("Google Inc.", "smtp-tls-reporting@google.com"), ("Microsoft Corporation", "tlsrpt-noreply@microsoft.com"),
        ("Mail.ru", "tls_support@corp.mail.ru"), ("Reporter Example", "tlsrpt@reporter.example")]
doms = {"example.com": ["mx1.example.com", "mx2.example.com"], "example.net": ["mx.example.net"],
        "example.org": ["mail.example.org", "backup.example.org"]}
day0 = datetime.datetime(2026, 10, 1, tzinfo=datetime.timezone.utc)
for i in range(30):
    day = day0 + datetime.timedelta(days=i)
    for dom, mxs in doms.items():
        for org, contact in orgs[: 2 + (i % 3 == 0)]:
            ok = rnd.randint(20, 400)
            details = []
            if dom == "example.org" and mxs[1] and rnd.random() < 0.6:
                details.append(fd("certificate-expired", rnd.randint(1, 9), mx="backup.example.org", ip="198.51.100.%d" % rnd.randint(1, 20)))
            if dom == "example.com" and rnd.random() < 0.15:
                details.append(fd("starttls-not-supported", rnd.randint(1, 3), mx="mx2.example.com", ip="203.0.113.%d" % rnd.randint(1, 20)))
            fail = sum(d["failed-session-count"] for d in details)
            start = day.strftime("%Y-%m-%dT00:00:00Z"); end = day.strftime("%Y-%m-%dT23:59:59Z")
            rid = "%s_%s_%s" % (day.strftime("%Y%m%d"), dom, org.split()[0].lower().replace(".", ""))
            r = report(org, rid, dom, start, end, [sts(dom, "testing", mxs, ok, fail, details=details or None)], contact=contact)
            sub = org.split()[0].lower().replace(".", "")
            name = "sample/%s!%s!%d!%d.json.gz" % (sub, dom, int(day.timestamp()), int(day.timestamp()) + 86399)
            write(name, gz(json.dumps(r).encode()))

# ---- reporters: shaped like what the Postfix TLSRPT reporter and mox send --
# Each policy entry covers its own sessions (RFC 8460 section 4.3): the
# figures of a report's policies for one domain add up.
os.makedirs("reporters", exist_ok=True)
PF_ORG, PF_CONTACT = "Sender Org", "tlsrpt-noreply@sender.example"
PF_DAY = ("2026-03-05T00:00:00Z", "2026-03-05T23:59:59Z")

def pf(rid_domain, policies, idx=1):
    # The Postfix reporter's report-id: the day, a per-installation counter
    # and the domain; its JSON is one line with ", " and ": " separators.
    r = report(PF_ORG, "2026-03-05T00:00:00Z_idx%d_%s" % (idx, rid_domain), rid_domain, *PF_DAY, policies, contact=PF_CONTACT)
    return json.dumps(r).encode()

dane = [{"summary": {"total-failure-session-count": 1, "total-successful-session-count": 4},
         "policy": {"policy-type": "tlsa", "policy-domain": "dane.example.net",
                    "policy-string": ["3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]},
         "failure-details": [fd("dnssec-invalid", 1, mx="mx.dane.example.net", ip="192.0.2.11", rip="203.0.113.5",
                                **{"additional-information": "bogus RRSIG"})]},
        {"summary": {"total-failure-session-count": 0, "total-successful-session-count": 2},
         "policy": {"policy-type": "no-policy-found", "policy-domain": "dane.example.net"}, "failure-details": []}]
write("reporters/postfix-dane-tlsa-and-no-policy.json.gz", gz(pf("dane.example.net", dane)))

changed = [sts("change.example.net", "enforce", ["mx1.change.example.net"], 3, 4,
               details=[fd("certificate-expired", 4, mx="mx1.change.example.net", ip="192.0.2.20", rip="198.51.100.20")]),
           sts("change.example.net", "testing", ["mx1.change.example.net"], 10, 0, details=[])]
write("reporters/postfix-policy-changed.json.gz", gz(pf("change.example.net", changed)))

fallback = [sts("example.org", "testing", ["*.mx.example.org"], 8, 7, details=[
    fd("starttls-not-supported", 2, mx="mx2.mx.example.org", ip="2001:db8::10", rip="2001:db8::25", **{"receiving-mx-helo": "mx2.mx.example.org"}),
    fd("certificate-host-mismatch", 1, mx="mx1.mx.example.org", ip="192.0.2.10", rip="198.51.100.1", **{"receiving-mx-helo": "mx1.mx.example.org"}),
    fd("certificate-not-trusted", 1, mx="mx1.mx.example.org", ip="192.0.2.10", rip="198.51.100.1"),
    fd("certificate-not-trusted", 1, mx="mx2.mx.example.org", ip="192.0.2.10", rip="198.51.100.2"),
    fd("certificate-expired", 3, mx="mx1.mx.example.org", ip="192.0.2.10", rip="198.51.100.1",
       **{"additional-information": "certificate expired 2026-01-01", "failure-reason-code": "X509_V_ERR_CERT_HAS_EXPIRED"}),
    fd("validation-failure", 1, mx="mx1.mx.example.org", ip="192.0.2.10", rip="198.51.100.1")], mxhost=["*.mx.example.org"])]
write("reporters/postfix-mx-fallback.json.gz", gz(pf("example.org", fallback)))
# The same report re-encoded (indented, members in another order, not
# compressed): a re-delivery, stored once.
refall = json.loads(pf("example.org", fallback))
write("reporters/postfix-mx-fallback-reencoded.json",
      json.dumps(dict(sorted(refall.items(), reverse=True)), indent=4, sort_keys=True).encode())
# Another installation of the same organisation, counting from 1 too: the
# same report-id, other sessions. Another report, not a duplicate.
reused = [sts("example.org", "enforce", ["mx1.mx.example.org"], 0, 1,
              details=[fd("certificate-expired", 1, mx="mx1.mx.example.org", ip="192.0.2.30", rip="198.51.100.1")])]
write("reporters/postfix-reused-report-id.json.gz", gz(pf("example.org", reused)))

pf_mail = ("From: tlsrpt-noreply@sender.example\r\nTo: tlsrpt@example.org\r\nDate: Fri, 06 Mar 2026 00:10:00 +0000\r\n"
           "Subject: Report Domain: example.org Submitter: sender.example Report-ID: <2026-03-05T00:00:00Z_idx2_example.org>\r\n"
           "TLS-Report-Domain: example.org\r\nTLS-Report-Submitter: sender.example\r\nTLS-Required: No\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/report; report-type="tlsrpt"; boundary="=_tlsrpt_boundary"\r\n\r\n'
           "--=_tlsrpt_boundary\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
           "This is an aggregate TLS report from sender.example\r\n"
           "--=_tlsrpt_boundary\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n"
           'Content-Disposition: attachment; filename="sender.example!example.org!1772668800!1772755199!idx2.json.gz"\r\n\r\n'
           + b64(gz(pf("example.org", [sts("example.org", "testing", ["*.mx.example.org"], 5, 0, mxhost=["*.mx.example.org"])], idx=2)))
           + "\r\n--=_tlsrpt_boundary--\r\n")
write("reporters/postfix-mail.eml", pf_mail.encode())

# mox: quoted-printable text part, "name=" on the attachment's type, empty
# sending-mta-ip strings, no-policy-found policies with empty arrays, and
# three policies in one report (two of them for MX hosts' own policies).
mox_policies = [
    sts("example.com", "enforce", ["mx1.example.com"], 6, 1, details=[
        fd("certificate-expired", 1, mx="mx1.example.com", **{"sending-mta-ip": "", "receiving-ip": "198.51.100.3"})]),
    {"policy": {"policy-type": "no-policy-found", "policy-string": [], "policy-domain": "mx1.example.com", "mx-host": []},
     "summary": {"total-successful-session-count": 6, "total-failure-session-count": 1},
     "failure-details": [fd("certificate-expired", 1, mx="mx1.example.com", **{"sending-mta-ip": "", "receiving-ip": "198.51.100.3"})]},
    {"policy": {"policy-type": "no-policy-found", "policy-string": [], "policy-domain": "example.com", "mx-host": []},
     "summary": {"total-successful-session-count": 2, "total-failure-session-count": 0}, "failure-details": []}]
mox_report = report("mox.example", "20260305.example.com@mox.example", "example.com", "2026-03-05T00:00:00Z",
                    "2026-03-06T00:00:00Z", mox_policies, contact="postmaster@mox.example")
mox_text = quopri.encodestring(("Attached is a TLS report with a summary of connection successes and failures "
                                "during attempts to securely deliver messages to your mail server, including "
                                "details about errors encountered. You are receiving this message because your "
                                "address is specified in the \"rua\" field of the TLSRPT record for your domain.\n")
                               .encode()).decode().replace("\n", "\r\n")
mox_mail = ("From: <postmaster@mox.example>\r\nTo: <tlsrpt@example.com>\r\n"
            "Subject: Report Domain: example.com Submitter: mox.example Report-ID:\r\n\t<20260305.example.com@mox.example>\r\n"
            "TLS-Report-Domain: example.com\r\nTLS-Report-Submitter: mox.example\r\nTLS-Required: No\r\n"
            "Message-Id: <fixture-mox@mail.mox.example>\r\nDate: 6 Mar 2026 00:21:39 +0000\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type="tlsrpt"; boundary="158b814c0404"\r\n\r\n'
            "--158b814c0404\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            + mox_text + "\r\n--158b814c0404\r\nContent-Disposition: attachment;\r\n\tfilename=mox.example!example.com!1772668800!1772755200.json.gz\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            'Content-Type: application/tlsrpt+gzip; name="mox.example!example.com!1772668800!1772755200.json.gz"\r\n\r\n'
            + b64(gz(json.dumps(mox_report).encode())) + "\r\n\r\n--158b814c0404--\r\n")
write("reporters/mox-report.eml", mox_mail.encode())

# A multipart/report whose last part, the report, ends with the message: no
# closing boundary, CRLF line ends, the base64 on one long line.
unclosed = mail("unclosed", []).decode().rsplit("--BOUNDARY--\r\n", 1)[0]
unclosed += ("--BOUNDARY\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             + base64.b64encode(gz(rep("unclosed"))).decode())
write("mail/report-part-ends-message.eml", unclosed.encode())
