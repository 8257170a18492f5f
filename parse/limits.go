package parse

// Limits bound every size a stranger controls. A zero field means the
// default given beside it.
type Limits struct {
	// MaxInput is the largest input accepted as it arrives (compressed,
	// encoded or whole message). Default 32 MiB.
	MaxInput int64
	// MaxReport is the largest JSON report, as sent or once decompressed.
	// Decompression stops after reading one byte more than this. Default 8 MiB.
	MaxReport int64
	// MaxDecompressed bounds the bytes decompressed from one input, across
	// every gzip layer, zip member and attachment: what an input may cost
	// in memory, whatever its nesting. Default 32 MiB.
	MaxDecompressed int64
	// MaxGzipLayers is the most gzip layers around a report (a gzip body
	// sent with Content-Encoding: gzip is two). Default 2.
	MaxGzipLayers int
	// MaxDepth is the deepest JSON nesting accepted. Default 32; a report
	// needs 5.
	MaxDepth int
	// MaxPolicies is the most policies one report may list. Default 10,000.
	MaxPolicies int
	// MaxFailureDetails is the most failure details one report may list, over
	// all its policies. Default 100,000.
	MaxFailureDetails int
	// MaxParts is the most MIME parts walked in one message. Default 256.
	MaxParts int
	// MaxNesting is the deepest nesting of multiparts, forwarded messages and
	// archives. Default 8.
	MaxNesting int
	// MaxReports is the most reports taken from one input (zip members, mail
	// attachments). Default 1,000.
	MaxReports int
}

// Default limits.
const (
	DefaultMaxInput          = 32 << 20
	DefaultMaxReport         = 8 << 20
	DefaultMaxDecompressed   = 32 << 20
	DefaultMaxGzipLayers     = 2
	DefaultMaxDepth          = 32
	DefaultMaxPolicies       = 10_000
	DefaultMaxFailureDetails = 100_000
	DefaultMaxParts          = 256
	DefaultMaxNesting        = 8
	DefaultMaxReports        = 1_000
)

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def64(&l.MaxInput, DefaultMaxInput)
	def64(&l.MaxReport, DefaultMaxReport)
	def64(&l.MaxDecompressed, DefaultMaxDecompressed)
	def(&l.MaxGzipLayers, DefaultMaxGzipLayers)
	def(&l.MaxDepth, DefaultMaxDepth)
	def(&l.MaxPolicies, DefaultMaxPolicies)
	def(&l.MaxFailureDetails, DefaultMaxFailureDetails)
	def(&l.MaxParts, DefaultMaxParts)
	def(&l.MaxNesting, DefaultMaxNesting)
	def(&l.MaxReports, DefaultMaxReports)
	return l
}
