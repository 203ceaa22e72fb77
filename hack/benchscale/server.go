package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one `keygate auth-server` process.
type server struct {
	cmd     *exec.Cmd
	addr    string // host:port of /check, /readyz and /metrics
	logPath string
	exited  chan struct{}
	waitErr error
	started time.Time
	http    *http.Client
}

// startServer runs `keygate auth-server` reading the records of namespace,
// with GODEBUG=gctrace=1 so that the live heap after each collection is in
// its log. The process is killed if this one dies (Pdeathsig).
func startServer(bin, kubeconfig, namespace, logPath string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s := &server{addr: "127.0.0.1:" + strconv.Itoa(port), logPath: logPath, exited: make(chan struct{}),
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	// A report name, as the Deployment's $POD_NAME gives, so that last-use
	// reporting is on as where users run it.
	s.cmd = exec.Command(bin, "auth-server", "--kubeconfig", kubeconfig, "--namespace", namespace, "--addr", s.addr,
		"--usage-report-name", "keygate-bench-"+strconv.Itoa(port))
	s.cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s auth-server: %w", bin, err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	return s, nil
}

// waitReady polls /readyz every 10ms and returns the time from process
// start to the first 200.
func (s *server) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		if resp, err := s.http.Get("http://" + s.addr + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(s.started), nil
			}
		}
		select {
		case <-s.exited:
			return 0, fmt.Errorf("the auth server exited before it was ready (%v); the end of its log:\n%s", s.waitErr, s.tail(30))
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the auth server's /readyz is not 200 after %v; the end of its log:\n%s", timeout, s.tail(30))
		}
	}
}

// stop sends SIGTERM and waits up to 30s, then kills.
func (s *server) stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// tail is the last n lines of the server's log, without the GC trace.
func (s *server) tail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.HasPrefix(l, "gc ") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}

// status is the answer to one /check with key.
func (s *server) status(key string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+s.addr+"/check?scopes="+scope, nil)
	if err != nil {
		return 0, err
	}
	for k, v := range checkHeaders(key) {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// checkHeaders are what ingress-nginx sends with a check: the same for
// every request of the benchmark.
func checkHeaders(key string) map[string]string {
	return map[string]string{
		"X-API-Key":         key,
		"X-Original-URL":    "https://api.example.com/api/sdk/events",
		"X-Original-Method": "POST",
		"X-Forwarded-For":   "203.0.113.7",
	}
}

// metric is the value of an unlabelled metric on /metrics.
func (s *server) metric(name string) (float64, error) {
	resp, err := s.http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no metric %s on /metrics", name)
}

// gcCounters are the bytes allocated and the collections run so far (0
// when /metrics cannot be read: the figures are only shown).
func (s *server) gcCounters() (alloc, gcs float64) {
	alloc, _ = s.metric("go_memstats_alloc_bytes_total")
	gcs, _ = s.metric("go_gc_duration_seconds_count")
	return alloc, gcs
}

// memory is what the process holds.
type memory struct {
	RSS, PeakRSS int64 // bytes, from /proc (VmRSS, VmHWM)
	HeapInuse    int64 // go_memstats_heap_inuse_bytes: live objects and garbage not yet collected
	LiveHeap     int64 // heap marked live by the last collection (GC trace); 0 when none ran
}

func (s *server) memory() (memory, error) {
	var m memory
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return m, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[2] == "kB" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				m.RSS = v << 10
			case "VmHWM:":
				m.PeakRSS = v << 10
			}
		}
	}
	h, err := s.metric("go_memstats_heap_inuse_bytes")
	if err != nil {
		return m, err
	}
	m.HeapInuse = int64(h)
	m.LiveHeap = s.liveHeap()
	return m, nil
}

// A GC trace line: "gc 7 @1.2s 3%: ... 40->41->22 MB, 44 MB goal, ...";
// the third figure is the heap marked live.
var gcLine = regexp.MustCompile(`^gc \d+ .* (\d+)->(\d+)->(\d+) MB`)

// liveHeap is the live heap after the last collection in the log.
func (s *server) liveHeap() int64 {
	f, err := os.Open(s.logPath)
	if err != nil {
		return 0
	}
	defer f.Close()
	var live int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if m := gcLine.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseInt(m[3], 10, 64)
			live = v << 20
		}
	}
	return live
}

// cpuTicks is the CPU time the process used so far, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from the ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("cannot read /proc/<pid>/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc/<pid>/stat")
	}
	u, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
	k, _ := strconv.ParseInt(f[12], 10, 64) // stime, field 15
	return u + k, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if v, perr := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && perr == nil && v > 0 {
		return v
	}
	return 100
}

// idleCPU is the share of one core the process used over d.
func idleCPU(pid int, d time.Duration, hz float64) (float64, error) {
	c0, err := cpuTicks(pid)
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	c1, err := cpuTicks(pid)
	if err != nil {
		return 0, err
	}
	return float64(c1-c0) / hz / d.Seconds(), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
