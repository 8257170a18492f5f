// Package ingest is where inputs enter tlsrpt: files and standard input
// (Import), and the sources built on the same Prepare step. Each source hands
// raw bytes to the parser and the result, raw bytes included, to the store.
package ingest
