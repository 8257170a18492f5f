package server

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsrpt/tlsrpt/store"
)

// authCollector exports the stored reports by how they were authenticated
// (tlsrpt_stored_reports{dkim, authenticated}): however they came (mail
// fetched or imported by other processes, HTTPS here), read from the store
// at most every authEvery, so that scrapes cost nothing.
type authCollector struct {
	st     store.Store
	log    *slog.Logger
	desc   *prometheus.Desc
	mu     sync.Mutex
	at     time.Time
	counts []store.AuthCount
}

const authEvery = 30 * time.Second

func newAuthCollector(st store.Store, log *slog.Logger) *authCollector {
	return &authCollector{st: st, log: log, desc: prometheus.NewDesc("tlsrpt_stored_reports",
		"Reports in the store by the DKIM result of the mail they came in (pass, fail, none, temperror; https for HTTPS; "+
			"unverified for files and mail not verified) and whether they count as authenticated.",
		[]string{"dkim", "authenticated"}, nil)}
}

func (c *authCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *authCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) >= authEvery {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		counts, err := c.st.ReportsByAuth(ctx)
		cancel()
		if err != nil {
			c.log.Warn("metrics: counting reports by authentication", "error", err)
		} else {
			c.counts, c.at = counts, time.Now()
		}
	}
	for _, x := range c.counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(x.Reports), x.DKIM, strconv.FormatBool(x.Authenticated))
	}
}
