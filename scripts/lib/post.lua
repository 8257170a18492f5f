-- wrk posts distinct generated reports (bench-serve.sh, bench-postgres.sh):
-- RUN in the environment keeps the report ids of runs apart.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"organization-name":"Bench","date-range":{"start-datetime":"2026-11-01T00:00:00Z",' ..
    '"end-datetime":"2026-11-01T23:59:59Z"},"contact-info":"b@bench.example","report-id":"%s-%d-%d",' ..
    '"policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: testing",' ..
    '"mx: mx.d%d.example","max_age: 86400"],"policy-domain":"d%d.example","mx-host":["mx.d%d.example"]},' ..
    '"summary":{"total-successful-session-count":%d,"total-failure-session-count":1},"failure-details":' ..
    '[{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx.d%d.example",' ..
    '"failed-session-count":1}]}]}', os.getenv("RUN"), id, n, n % 1000, n % 1000, n % 1000, n, n % 1000)
  return wrk.format("POST", "/tlsrpt", {["Content-Type"] = "application/tlsrpt+json"}, body)
end
