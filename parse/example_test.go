package parse_test

import (
	"fmt"
	"os"

	"github.com/tlsrpt/tlsrpt/parse"
)

func ExampleParser_Parse() {
	data, err := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	if err != nil {
		panic(err)
	}
	items, err := parse.New(parse.Limits{}).Parse(data)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	for _, it := range items {
		if it.Err != nil {
			fmt.Println(it.Name, "invalid:", it.Err)
			continue
		}
		r := it.Report
		for _, p := range r.Policies {
			fmt.Printf("%s %s: %d ok, %d failed\n", r.OrganizationName, p.Domain, p.SuccessfulSessions, p.FailedSessions)
			for _, fd := range p.FailureDetails {
				fmt.Printf("  %s on %s: %d\n", fd.ResultType, fd.ReceivingMXHostname, fd.FailedSessions)
			}
		}
	}
	// Output:
	// Mail Sender example.net: 50 ok, 2 failed
	//   starttls-not-supported on mx.example.net: 2
}
