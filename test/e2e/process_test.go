package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/keygate-dev/keygate/test/testenv"
)

// The end-to-end suite runs keygate as users do: bin/keygate controller and
// bin/keygate auth-server, each in its own process, configured by flags
// and a kubeconfig. Flags -> options -> manager (internal/app) is the
// path under test.

var built struct {
	once sync.Once
	path string
	err  error
}

// keygateBinary builds the keygate binary once per test run.
func keygateBinary() (string, error) {
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "keygate-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "keygate")
		cmd := exec.Command("go", "build", "-o", built.path, ".")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	return built.path, built.err
}

// process is one running keygate subcommand. Its JSON log (stderr) is
// kept for failure reports, and the addresses it says it listens on are
// read from it, so that it can listen on port 0.
type process struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []byte
	// listening maps a log message ("auth server listening") to the addr
	// it reported.
	listening map[string]string
	changed   chan struct{}
	exited    chan struct{}
}

// startProcess runs bin/keygate with args.
func startProcess(name string, args ...string) (*process, error) {
	bin, err := keygateBinary()
	if err != nil {
		return nil, err
	}
	p := &process{name: name, cmd: exec.Command(bin, args...), listening: map[string]string{},
		changed: make(chan struct{}, 1), exited: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting keygate %s: %w", name, err)
	}
	go p.read(stderr)
	return p, nil
}

func (p *process) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var entry struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		p.mu.Lock()
		p.log = append(append(p.log, line...), '\n')
		if json.Unmarshal(line, &entry) == nil && entry.Addr != "" {
			p.listening[entry.Msg] = entry.Addr
		}
		p.mu.Unlock()
		select {
		case p.changed <- struct{}{}:
		default:
		}
	}
	_ = p.cmd.Wait()
	close(p.exited)
}

// addr waits until the process logs msg with an addr, and returns it.
func (p *process) addr(msg string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		a, ok := p.listening[msg]
		p.mu.Unlock()
		if ok {
			return a, nil
		}
		select {
		case <-p.changed:
		case <-p.exited:
			return "", fmt.Errorf("keygate %s exited before %q:\n%s", p.name, msg, p.output())
		case <-deadline:
			return "", fmt.Errorf("keygate %s did not log %q within %s:\n%s", p.name, msg, timeout, p.output())
		}
	}
}

// output is what the process logged so far.
func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.log)
}

// stop sends SIGTERM, as the kubelet does, and waits for a graceful exit;
// after 20 s it kills the process.
func (p *process) stop() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("keygate %s did not stop within 20s of SIGTERM", p.name)
	}
	if st := p.cmd.ProcessState; st != nil && !st.Success() {
		return fmt.Errorf("keygate %s: %s after SIGTERM:\n%s", p.name, st, p.output())
	}
	return nil
}

// authServer is a running keygate auth-server and where it serves.
type authServer struct {
	*process
	url      string // http://127.0.0.1:port
	grpcAddr string // 127.0.0.1:port, when --grpc-addr was given
}

// startAuthServer runs keygate auth-server with the kubeconfig and extra
// flags, on loopback ports of its choosing.
func startAuthServer(name, kubeconfig string, grpc bool, flags ...string) (*authServer, error) {
	args := append([]string{"auth-server", "--kubeconfig", kubeconfig, "--addr", "127.0.0.1:0"}, flags...)
	if grpc {
		args = append(args, "--grpc-addr", "127.0.0.1:0")
	}
	p, err := startProcess(name, args...)
	if err != nil {
		return nil, err
	}
	a := &authServer{process: p}
	addr, err := p.addr("auth server listening", 60*time.Second)
	if err == nil && grpc {
		a.grpcAddr, err = p.addr("ext_authz gRPC server listening", 10*time.Second)
	}
	if err != nil {
		_ = p.stop()
		return nil, err
	}
	a.url = "http://" + addr
	return a, nil
}
