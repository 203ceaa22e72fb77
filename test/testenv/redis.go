package testenv

import (
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Redis is a real redis-server on a loopback port, without persistence,
// stopped when the test ends.
type Redis struct {
	tb   testing.TB
	bin  string
	Port int
	dir  string
	cmd  *exec.Cmd
	args []string // more redis-server arguments (a cluster node's)
}

// StartRedis starts redis-server (RequireBinary: under CI=true a missing
// one fails the test) and waits until it answers.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	s := &Redis{tb: tb, bin: RequireBinary(tb, "redis-server"), Port: FreePort(tb), dir: tb.TempDir()}
	s.Start()
	tb.Cleanup(s.Stop)
	return s
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is host:port; URL the redis:// URL the auth server takes.
func (s *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }
func (s *Redis) URL() string  { return "redis://" + s.Addr() }

// Start starts the server again after Stop, on the same port.
func (s *Redis) Start() {
	s.tb.Helper()
	args := append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir}, s.args...)
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatalf("starting redis-server: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ping(s.Addr()) {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("redis-server on port %d did not answer", s.Port)
		}
	}
}

// Stop kills the server.
func (s *Redis) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// ping sends an inline PING and expects +PONG.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := c.Read(buf)
	return string(buf[:n]) == "+PONG\r\n"
}
