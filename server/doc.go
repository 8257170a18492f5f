// Package server runs `tlsrpt serve`: the listener and its TLS (certificate
// files or ACME), the reporting endpoint of package ingest with the spool it
// keeps reports in, the MTA-STS policy hosting of package mtasts, /healthz
// and /metrics. It holds the wiring, not the sources: what a POST becomes is
// ingest's.
package server
