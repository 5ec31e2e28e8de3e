-- wrk script for make bench: POST a JSON body with a bearer token (both from the environment).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")

done = function(summary, latency, requests)
    local p50 = latency:percentile(50) / 1000
    local p99 = latency:percentile(99) / 1000
    io.write(string.format("BENCH requests=%d duration_us=%d p50_ms=%.3f p99_ms=%.3f errors=%d\n",
        summary.requests, summary.duration, p50, p99,
        summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout))
end
