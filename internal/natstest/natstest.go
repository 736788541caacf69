// Package natstest runs real nats-server processes for tests: one server
// or a three-node cluster, bound to 127.0.0.1, JetStream on a temporary
// directory, stopped (or killed, or restarted on the same storage) by PID.
//
// The binary is looked up as $NATS_SERVER, then in prep's tools cache
// (~/.cache/prep-tools/bin, where `make test` builds nats-server v2.15.2),
// then on PATH. When it is missing a test is skipped — and fails when the
// CI environment variable is set, so CI cannot pass by skipping.
package natstest

import (
	"bytes"
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

	"github.com/prep-audio/prep/internal/testdeps"
)

// Binary returns the nats-server path, or "" when there is none.
func Binary() string {
	if p := os.Getenv("NATS_SERVER"); p != "" {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "prep-tools", "bin", "nats-server")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	return ""
}

// Need returns the nats-server binary or ends the test: skipped, or failed
// when CI is set.
func Need(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		testdeps.Missing(t, "nats-server not found (run `make test-deps`: it builds nats-server v2.15.2 into ~/.cache/prep-tools/bin)")
	}
	return bin
}

// Server is one nats-server process.
type Server struct {
	t       testing.TB
	bin     string
	args    []string
	dir     string
	Port    int
	Monitor int // the HTTP monitoring port (/varz, /connz) of a single server; 0 in a cluster
	Name    string
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	log     *lockedBuf
	stopped bool
}

// URL is the client URL, nats://127.0.0.1:PORT.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }

// MonitorURL is the base URL of the server's HTTP monitoring endpoints
// (/varz, /connz, /jsz), http://127.0.0.1:PORT.
func (s *Server) MonitorURL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.Monitor) }

// Start starts one JetStream server on a free loopback port, with its
// monitoring endpoints on another, and its store in a temporary directory;
// it is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Need(t)
	dir := t.TempDir()
	s := &Server{t: t, bin: bin, dir: dir, Name: "n1"}
	ports := func(string) bool {
		s.Port, s.Monitor = freePort(t), freePort(t)
		s.args = []string{"-a", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-m", strconv.Itoa(s.Monitor), "-js", "-sd", dir, "-n", "n1"}
		return true
	}
	ports("")
	s.start(ports)
	t.Cleanup(s.Stop)
	return s
}

// start runs the server and waits until it says it is ready. A port
// found free can be taken by another process before the server binds it
// (go test runs packages, with their servers and clients, in parallel):
// the server then exits saying so, and start tries again, on new ports
// when newPorts, given what the server printed, picks them, else on the
// same ones a little later (a restart: its clients reconnect to its URL;
// a cluster node's route port: the others route to it). Ready is the server's own "Server is ready" — a
// connection to the port could be answered by another process.
func (s *Server) start(newPorts func(log string) bool) {
	s.t.Helper()
	for try := 1; ; try++ {
		log, ready := s.startOnce()
		if ready {
			return
		}
		if try < 5 && strings.Contains(log, "address already in use") {
			if newPorts == nil || !newPorts(log) {
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		s.t.Fatalf("nats-server on port %d did not start:\n%s", s.Port, log)
	}
}

// startOnce starts the process and waits up to 10 s for it to be ready;
// false when it exited or was not ready in time, with what it printed.
func (s *Server) startOnce() (string, bool) {
	s.t.Helper()
	s.mu.Lock()
	log := &lockedBuf{}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("nats-server: %v", err)
	}
	done := make(chan struct{})
	s.log, s.cmd, s.done, s.stopped = log, cmd, done, false
	s.mu.Unlock()
	go func() { cmd.Wait(); close(done) }()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case <-done:
			return log.String(), false
		default:
		}
		if strings.Contains(log.String(), "Server is ready") {
			return "", true
		}
	}
	return log.String(), false
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	if s.stopped || cmd == nil {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Stop ends the server gracefully (SIGTERM; SIGKILL after 10 s).
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill ends the server with SIGKILL.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Restart stops the server (gracefully) and starts it again on the same
// port and storage.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start(nil)
}

// PID is the running server process's id (0 when stopped).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Log is what the server printed so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Cluster is three JetStream servers routed together.
type Cluster struct {
	Servers []*Server
}

// URLs is every node's client URL, comma-separated (what nats.Connect takes).
func (c *Cluster) URLs() string {
	var u []string
	for _, s := range c.Servers {
		u = append(u, s.URL())
	}
	return strings.Join(u, ",")
}

// StartCluster starts a three-node JetStream cluster on loopback.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := Need(t)
	c := &Cluster{}
	ports := make([]int, 3)
	cports := make([]int, 3)
	for i := range ports {
		ports[i], cports[i] = freePort(t), freePort(t)
	}
	var routes []string
	for _, p := range cports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	for i := range ports {
		dir := t.TempDir()
		name := fmt.Sprintf("n%d", i+1)
		s := &Server{t: t, bin: bin, dir: dir, Port: ports[i], Name: name}
		setArgs := func() {
			s.args = []string{
				"-a", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-js", "-sd", dir, "-n", name,
				"--cluster_name", "prep", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", cports[i]),
				"--routes", strings.Join(routes, ","),
			}
		}
		setArgs()
		// A client port taken meanwhile is picked again (no other node
		// names it); a route port is waited for (the others route to it).
		s.start(func(log string) bool {
			if !inUse(log, s.Port) {
				return false
			}
			s.Port = freePort(t)
			setArgs()
			return true
		})
		t.Cleanup(s.Stop)
		c.Servers = append(c.Servers, s)
	}
	// Ready when a JetStream metadata leader is elected.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range c.Servers {
			if strings.Contains(s.Log(), "JetStream cluster new metadata leader") || strings.Contains(s.Log(), "Self is new JetStream cluster metadata leader") {
				return c
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the cluster elected no JetStream leader in 30 s:\n%s", c.Servers[0].Log())
	return c
}

// inUse reports whether the server's log says it could not listen on
// port because another process has it.
func inUse(log string, port int) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "address already in use") && strings.Contains(l, fmt.Sprintf("127.0.0.1:%d:", port)) {
			return true
		}
	}
	return false
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
