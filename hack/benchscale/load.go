package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// loadRun is what one wrk run measured.
type loadRun struct {
	RPS   float64
	P99ms float64
	CPUus float64 // server CPU time per request, from /proc
	// AllocB is what the server allocated per request, GCs the collections
	// it ran during the run (go_memstats_alloc_bytes_total and
	// go_gc_duration_seconds_count on /metrics).
	AllocB float64
	GCs    float64
	Errors string // wrk's non-2xx or socket-error line, if any
}

var (
	wrkRPS = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkP99 = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkReq = regexp.MustCompile(`(?m)^\s+(\d+) requests in `)
	wrkErr = regexp.MustCompile(`(?m)^.*(Non-2xx|Socket errors).*$`)
)

// wrk loads the server's /check with a valid key for d, as hack/bench.sh
// does (wrk -t2, conns connections), and reads the server's CPU time.
func wrk(ctx context.Context, s *server, key string, conns int, d time.Duration, hz float64) (loadRun, error) {
	args := []string{"-t2", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}
	for k, v := range checkHeaders(key) {
		args = append(args, "-H", k+": "+v)
	}
	args = append(args, "http://"+s.addr+"/check?scopes="+scope)
	c0, err := cpuTicks(s.cmd.Process.Pid)
	if err != nil {
		return loadRun{}, err
	}
	a0, g0 := s.gcCounters()
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return loadRun{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	c1, err := cpuTicks(s.cmd.Process.Pid)
	if err != nil {
		return loadRun{}, err
	}
	a1, g1 := s.gcCounters()
	r := loadRun{GCs: g1 - g0}
	if m := wrkErr.FindString(string(out)); m != "" {
		r.Errors = strings.TrimSpace(m)
	}
	m := wrkRPS.FindStringSubmatch(string(out))
	p := wrkP99.FindStringSubmatch(string(out))
	n := wrkReq.FindStringSubmatch(string(out))
	if m == nil || p == nil || n == nil {
		return r, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	r.P99ms, _ = strconv.ParseFloat(p[1], 64)
	switch p[2] {
	case "us":
		r.P99ms /= 1000
	case "s":
		r.P99ms *= 1000
	}
	if reqs, _ := strconv.ParseFloat(n[1], 64); reqs > 0 {
		r.CPUus = 1e6 * float64(c1-c0) / hz / reqs
		r.AllocB = (a1 - a0) / reqs
	}
	return r, nil
}

// comparison is an interleaved load of the N = 1 server and the N server.
type comparison struct {
	Base, Big []loadRun
	Ratios    []float64 // Big.RPS / Base.RPS, per round
}

// medians of the rounds.
func (c comparison) medians() (base, big loadRun, ratio float64) {
	pick := func(rs []loadRun, f func(loadRun) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	rps := func(r loadRun) float64 { return r.RPS }
	p99 := func(r loadRun) float64 { return r.P99ms }
	cpu := func(r loadRun) float64 { return r.CPUus }
	base = loadRun{RPS: pick(c.Base, rps), P99ms: pick(c.Base, p99), CPUus: pick(c.Base, cpu)}
	big = loadRun{RPS: pick(c.Big, rps), P99ms: pick(c.Big, p99), CPUus: pick(c.Big, cpu)}
	return base, big, median(c.Ratios)
}

// compare runs a warm-up of each, then rounds of both, in turn.
func compare(ctx context.Context, cfg *config, base, big *server, baseKey, bigKey string) (comparison, error) {
	var c comparison
	for _, s := range []struct {
		srv *server
		key string
	}{{base, baseKey}, {big, bigKey}} {
		if _, err := wrk(ctx, s.srv, s.key, cfg.conns, cfg.warmup, cfg.hz); err != nil {
			return c, err
		}
	}
	for i := 0; i < cfg.rounds; i++ {
		// ABBA: the server that goes first alternates.
		first, second, firstKey, secondKey := base, big, baseKey, bigKey
		if i%2 == 1 {
			first, second, firstKey, secondKey = big, base, bigKey, baseKey
		}
		f, err := wrk(ctx, first, firstKey, cfg.conns, cfg.duration, cfg.hz)
		if err != nil {
			return c, err
		}
		l, err := wrk(ctx, second, secondKey, cfg.conns, cfg.duration, cfg.hz)
		if err != nil {
			return c, err
		}
		b, g := f, l
		if i%2 == 1 {
			b, g = l, f
		}
		for _, r := range []loadRun{b, g} {
			if r.Errors != "" {
				return c, fmt.Errorf("wrk saw errors (a valid key must always be admitted): %s", r.Errors)
			}
		}
		c.Base, c.Big = append(c.Base, b), append(c.Big, g)
		c.Ratios = append(c.Ratios, g.RPS/b.RPS)
		fmt.Printf("    round %d: N=1 %7.0f/s p99 %6.2f ms cpu %5.1f us/req %4.0f B/req %3.0f GCs | N %7.0f/s p99 %6.2f ms cpu %5.1f us/req %4.0f B/req %3.0f GCs | ratio %.3f\n",
			i+1, b.RPS, b.P99ms, b.CPUus, b.AllocB, b.GCs, g.RPS, g.P99ms, g.CPUus, g.AllocB, g.GCs, g.RPS/b.RPS)
	}
	return c, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100).
func percentile(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s))*p/100+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}
