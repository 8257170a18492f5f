// Package ingest is where inputs enter tlsrpt: files and standard input
// (Import), IMAP mailboxes (Fetch, Watch), and reports POSTed to the
// reporting endpoint (Handler, which keeps them in a Spool before they are
// stored). Each source hands raw bytes to the parser and the result, raw
// bytes included, to the store. Package server runs the endpoint.
package ingest
