// Package web is tlsrpt's dashboard and JSON API: read-only pages over a
// store that answer, per policy domain, whether its MTA-STS policy may go
// to enforce and, if not, which MX host fails and why.
//
// The pages are html/template shells that fetch everything they show from
// /api/v1/ (the same JSON as the command line's --format json, written by
// internal/jsonout), with one embedded script and the uPlot chart library
// vendored in assets/vendor (scripts/vendor-uplot.sh). Nothing is loaded
// from another origin and nothing changes the store: every route is GET.
//
// Listen refuses an address other than loopback unless the handler
// authenticates (a bcrypt htpasswd file, or a trusted reverse proxy's
// header).
package web
