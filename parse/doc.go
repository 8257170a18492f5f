// Package parse decodes SMTP TLS reports (RFC 8460) from the bytes they
// arrive as: plain JSON, gzip, zip, or a whole mail message whose MIME tree
// holds one or more reports.
//
// The decoder is lenient where real senders are sloppy and strict where input
// is hostile. Every quirk a known sender exhibits is accepted and normalised in
// one place, marked "QUIRK:" in the source, with a fixture in testdata/ that
// shows it. A report that cannot be attributed or counted (no report-id, no
// policies, a negative count, an end before its start, not JSON at all) is
// refused with a [*FieldError] naming the field; anything odd but usable is
// kept and described in [Report.Warnings].
//
// Every size a stranger controls is bounded by [Limits]: the input, each
// decompressed report (a gzip or zip bomb is refused after reading at most the
// limit), JSON nesting, the number of policies, failure details, MIME parts and
// reports per input.
package parse
