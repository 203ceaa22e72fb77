package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/test/testenv"
)

// TestDevPrintsLinesThatWork runs keygate dev as make dev does (the built
// binary, a control plane of its own, the repository's CRDs and samples),
// pastes every command it prints into bash, and checks what each answers.
// Then Ctrl-C (SIGINT) must stop it cleanly with nothing left running.
func TestDevPrintsLinesThatWork(t *testing.T) {
	testenv.RequireBinary(t, "curl")
	d := startDev(t)
	printed := readUntil(t, d.lines, "Ctrl-C stops everything.", 3*time.Minute, d.stderr)
	// The control plane is up: these are kube-apiserver and etcd, in
	// process groups of their own, so the cleanup can stop them even if
	// the test fails before Ctrl-C.
	d.children = childPIDs(d.cmd.Process.Pid)
	pastePrinted(t, printed)
	if c, err := net.DialTimeout("tcp", d.grpcAddr, time.Second); err != nil {
		t.Errorf("the ext_authz gRPC port %s is not open: %v", d.grpcAddr, err)
	} else {
		_ = c.Close()
	}
	d.interrupt(t)
}

// devRun is one keygate dev process.
type devRun struct {
	cmd            *exec.Cmd
	addr, grpcAddr string
	stderr         *lockedBuffer
	lines          chan string
	exited         chan error
	done           chan struct{} // closed once keygate dev has exited
	children       []int
}

// startDev starts the built binary's keygate dev on free ports, with the
// repository's CRDs and samples and a state folder of its own.
func startDev(t *testing.T) *devRun {
	t.Helper()
	assets, err := testenv.Assets()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := keygateBinary()
	if err != nil {
		t.Fatal(err)
	}
	root, state := testenv.RepoRoot(), filepath.Join(t.TempDir(), "state")
	d := &devRun{addr: freeAddr(t), grpcAddr: freeAddr(t), stderr: &lockedBuffer{},
		lines: make(chan string, 4096), exited: make(chan error, 1), done: make(chan struct{})}
	d.cmd = exec.Command(bin, "dev", "--assets", assets, "--addr", d.addr, "--grpc-addr", d.grpcAddr,
		"--samples", filepath.Join(root, "config", "samples"), "--crds", filepath.Join(root, "config", "crd", "bases"),
		"--state-dir", state, "--kubeconfig-out", filepath.Join(state, "kubeconfig"))
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case d.lines <- sc.Text():
			default: // nobody reads after the how-to: never block keygate dev
			}
		}
		close(d.lines)
		d.exited <- d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() { stopDev(d.cmd, d.done, d.children) })
	return d
}

// pastePrinted runs the curl and kubectl lines keygate dev printed and
// checks their answers.
func pastePrinted(t *testing.T, printed []string) {
	t.Helper()
	var curls, kubectl []string
	for _, l := range printed {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "curl "):
			curls = append(curls, l)
		case strings.HasPrefix(l, "export KUBECONFIG="), strings.Contains(l, "kubectl get "):
			kubectl = append(kubectl, l)
		}
	}
	if len(curls) != 3 || len(kubectl) != 2 {
		t.Fatalf("keygate dev printed %d curl and %d kubectl lines, want 3 and 2:\n%s", len(curls), len(kubectl), strings.Join(printed, "\n"))
	}
	for i, want := range []struct{ status, body string }{
		{"HTTP/1.1 200", ""},
		{"HTTP/1.1 200", ""},
		{"HTTP/1.1 401", `"code":"AUTH_FAILED"`},
	} {
		out := bash(t, curls[i])
		if !strings.HasPrefix(out, want.status) || !strings.Contains(out, want.body) {
			t.Errorf("pasted %q:\n%s\nwant %s with %q", curls[i], out, want.status, want.body)
		}
		// Header names are case-insensitive (Go writes Ratelimit-Policy).
		lower := strings.ToLower(out)
		if i == 0 && !strings.Contains(lower, "x-auth-subject: acme") {
			t.Errorf("the sample key's answer has no X-Auth-Subject:\n%s", out)
		}
		if i == 0 && !strings.Contains(lower, "ratelimit-policy: ") {
			t.Errorf("the sample key's answer, with the seed policy, has no RateLimit-Policy:\n%s", out)
		}
	}
	if out := bash(t, strings.Join(kubectl, "; ")); !strings.Contains(out, "acme-sdk") || !strings.Contains(out, "breakground") {
		t.Errorf("pasted the kubectl lines:\n%s\nwant the sample ApiKey and RateLimitPolicy", out)
	}
	// The first curl used the sample key: its ApiKey shows the use (dev
	// reports it every 2s), in status.lastUsedAt and the LAST USED column.
	lastUsed := kubectl[0] + "; " + strings.Replace(kubectl[1], "get apikeys,ratelimitpolicies -A",
		"get apikey -n acme acme-sdk -o jsonpath={.status.lastUsedAt}", 1)
	recent := func(out string) bool {
		at, err := time.Parse(time.RFC3339, strings.TrimSpace(out))
		return err == nil && time.Since(at) < 10*time.Minute
	}
	deadline := time.Now().Add(20 * time.Second)
	for out := bash(t, lastUsed); !recent(out); out = bash(t, lastUsed) {
		if time.Now().After(deadline) {
			t.Errorf("the sample ApiKey's status.lastUsedAt is %q 20s after its key was used, want the last minutes", out)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// interrupt sends Ctrl-C and checks that keygate dev stops cleanly, with
// neither its children nor its port left behind.
func (d *devRun) interrupt(t *testing.T) {
	t.Helper()
	if len(d.children) < 2 {
		t.Fatalf("keygate dev runs %d child processes, want kube-apiserver and etcd at least", len(d.children))
	}
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("keygate dev after Ctrl-C: %v\n%s", err, d.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("keygate dev did not stop within 60s of Ctrl-C")
	}
	// The processes keygate dev started (kube-apiserver, etcd) must not
	// outlive it.
	for _, pid := range d.children {
		if alive(pid) {
			t.Errorf("process %d that keygate dev started still runs after it stopped", pid)
		}
	}
	if c, err := net.DialTimeout("tcp", d.addr, time.Second); err == nil {
		_ = c.Close()
		t.Fatalf("%s still answers after keygate dev stopped", d.addr)
	}
}

// readUntil collects printed lines up to and including the one that
// contains end.
func readUntil(t *testing.T, lines <-chan string, end string, timeout time.Duration, stderr fmt.Stringer) []string {
	t.Helper()
	var got []string
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("keygate dev exited before printing %q:\n%s\n%s", end, strings.Join(got, "\n"), stderr)
			}
			got = append(got, l)
			if strings.Contains(l, end) {
				return got
			}
		case <-deadline:
			t.Fatalf("keygate dev printed no %q within %s:\n%s\n%s", end, timeout, strings.Join(got, "\n"), stderr)
		}
	}
}

// bash runs a line as a user pasting it would, and returns its output.
func bash(t *testing.T, line string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	var stderr strings.Builder
	cmd.Stderr = &stderr // curl's progress meter, shown only when stdout is not a terminal
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("bash -c %q: %v\n%s", line, err, stderr.String())
	}
	return strings.ReplaceAll(string(out), "\r", "")
}

// stopDev leaves nothing running when the test ends, however it ended:
// Ctrl-C first, as a user would, then SIGKILL for keygate dev and the
// process groups of the children it had started.
func stopDev(cmd *exec.Cmd, done <-chan struct{}, children []int) {
	select {
	case <-done:
	default:
		children = append(children, childPIDs(cmd.Process.Pid)...)
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
	for _, pid := range children {
		if alive(pid) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(filepath.Dir(f)), "/"))
			out = append(out, child)
		}
	}
	return out
}

// alive reports whether pid runs (a zombie waiting for its parent does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// lockedBuffer collects a process's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
