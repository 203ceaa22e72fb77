package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const mib = 1 << 20

// Targets of issue 15 at N = 100,000.
const (
	targetRSS       = 300 * mib
	targetReady     = 60 * time.Second
	targetRatio     = 0.95
	targetRevokeP99 = time.Second
)

// printRow prints one size's figures as soon as they are measured.
func (b *bench) printRow(r row) {
	fmt.Printf("  ready in %v with %.0f keys; RSS %.1f MiB (peak %.1f), heap in use %.1f MiB, live heap %.0f MiB; idle CPU %.2f%% of a core\n",
		r.Ready.Round(time.Millisecond), r.Loaded, float64(r.Mem.RSS)/mib, float64(r.Mem.PeakRSS)/mib,
		float64(r.Mem.HeapInuse)/mib, float64(r.Mem.LiveHeap)/mib, 100*r.IdleCPU)
	if len(r.Revocations) > 0 {
		fmt.Printf("  revocation (%d records deleted one at a time): p50 %v, p99 %v\n", len(r.Revocations),
			percentile(r.Revocations, 50).Round(time.Millisecond), percentile(r.Revocations, 99).Round(time.Millisecond))
	}
}

// report prints the tables and the targets, and writes them to -out.
func (b *bench) report() error {
	var md strings.Builder
	fmt.Fprintf(&md, "Auth server (`keygate auth-server`, one process) against envtest; record Secrets created directly with the API client, "+
		"not through the controller. /check load: wrk -t2 -c%d, %d rounds of %v interleaved with the N = 1 server (medians).\n\n",
		b.cfg.conns, b.cfg.rounds, b.cfg.duration)
	md.WriteString("| N | ready | RSS | peak RSS | heap in use | live heap | bytes/key | idle CPU | req/s | req/s N=1 | ratio | p99 ms (N=1) | CPU µs/req (N=1) | revocation p50 / p99 | create records |\n")
	md.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	r := b.baseRow
	fmt.Fprintf(&md, "| 1 | %s | %s | %s | %s | %s | | %.2f%% | | | | | | | |\n", secs(r.Ready), mibs(r.Mem.RSS), mibs(r.Mem.PeakRSS),
		mibs(r.Mem.HeapInuse), mibs(r.Mem.LiveHeap), 100*r.IdleCPU)
	for _, r := range b.rows {
		base, big, ratio := r.Load.medians()
		perKey := "" // below 10,000 keys the GC trace's whole MiB is too coarse
		if r.N >= 10000 {
			perKey = fmt.Sprintf("%.0f", float64(r.LiveAfter-r.BaseLive)/float64(r.N))
		}
		fmt.Fprintf(&md, "| %d | %s | %s | %s | %s | %s | %s | %.2f%% | %.0f | %.0f | %.3f | %.2f (%.2f) | %.1f (%.1f) | %s / %s | %d in %s (%.0f/s) |\n",
			r.N, secs(r.Ready), mibs(r.Mem.RSS), mibs(r.Mem.PeakRSS), mibs(r.Mem.HeapInuse), mibs(r.LiveAfter), perKey,
			100*r.IdleCPU, big.RPS, base.RPS, ratio, big.P99ms, base.P99ms, big.CPUus, base.CPUus,
			ms(percentile(r.Revocations, 50)), ms(percentile(r.Revocations, 99)),
			r.Created, secs(r.CreateTime), float64(r.Created)/r.CreateTime.Seconds())
	}
	md.WriteString("\n" + b.etcdLine() + "\n\n" + b.targets())
	fmt.Println("== auth server at scale")
	fmt.Print(md.String())
	if b.cfg.out == "" {
		return nil
	}
	if err := os.MkdirAll(b.cfg.out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.cfg.out, "auth-server.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	svg := filepath.Join(b.cfg.out, "auth-server.svg")
	fmt.Printf("(written to %s and %s)\n", filepath.Join(b.cfg.out, "auth-server.md"), svg)
	return os.WriteFile(svg, []byte(b.plot()), 0o644)
}

func (b *bench) etcdLine() string {
	var grew []string
	for _, r := range b.rows {
		if r.EtcdPerRec > 0 {
			grew = append(grew, fmt.Sprintf("%.0f B per record while creating %d", r.EtcdPerRec, r.Created))
		}
	}
	return fmt.Sprintf("etcd: one API-key record Secret is %d B as stored (protobuf, managed fields included) under a %d-B key; "+
		"the database (apiserver_storage_size_bytes) grew %s.", b.etcd.recordBytes, b.etcd.keyBytes, strings.Join(grew, ", "))
}

// targets compares the largest size with issue 15's targets.
func (b *bench) targets() string {
	if len(b.rows) == 0 {
		return ""
	}
	r := b.rows[len(b.rows)-1]
	_, _, ratio := r.Load.medians()
	p99 := percentile(r.Revocations, 99)
	var s strings.Builder
	fmt.Fprintf(&s, "Targets (issue 15, set for N = 100000), at N = %d:\n\n", r.N)
	line := func(what, got, want string, ok bool) {
		verdict := "OK"
		if !ok {
			verdict = "MISSED"
		}
		fmt.Fprintf(&s, "- %s: %s (target %s) %s\n", what, got, want, verdict)
	}
	line("RSS after the load", mibs(r.Mem.RSS), "<= 300 MiB", r.Mem.RSS <= targetRSS)
	line("peak RSS (what a memory limit must allow)", mibs(r.Mem.PeakRSS), "<= 300 MiB", r.Mem.PeakRSS <= targetRSS)
	line("ready after start", secs(r.Ready), "<= 60 s", r.Ready <= targetReady)
	line("req/s against N = 1 (median ratio)", fmt.Sprintf("%.3f", ratio), ">= 0.95", ratio >= targetRatio)
	line("revocation p99", ms(p99), "<= 1 s", p99 <= targetRevokeP99)
	return s.String()
}

func mibs(v int64) string { return fmt.Sprintf("%.1f MiB", float64(v)/mib) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
