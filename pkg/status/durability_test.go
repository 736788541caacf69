package status

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain doubles as the receiver process that TestKill9 kills.
func TestMain(m *testing.M) {
	if os.Getenv("PREP_STATUS_TEST_HELPER") == "serve" {
		serveHelper()
		return
	}
	os.Exit(m.Run())
}

func serveHelper() {
	store, err := OpenStore(os.Getenv("PREP_STATUS_TEST_STORE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Println(ln.Addr().String())
	http.Serve(ln, NewReceiver(store, Config{MetaAppSecret: testSecret}))
}

// An acknowledged event survives kill -9 of the receiver: the process is
// killed while bodies are in flight, and every body answered 200 before
// the kill is in the store when it is opened again.
func TestKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "statuses.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PREP_STATUS_TEST_HELPER=serve", "PREP_STATUS_TEST_STORE="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
		}
		cmd.Wait()
	}()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + string(bytes.TrimSpace([]byte(addr))) + "/webhooks/meta"

	const workers, perBody = 8, 50
	var (
		mu    sync.Mutex
		acked [][]string // message ids of the bodies answered 200
		sent  atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				var sts []st
				var ids []string
				for k := 0; k < perBody; k++ {
					id := fmt.Sprintf("wamid.w%d-b%d-s%d", w, i, k)
					sts = append(sts, st{id: id, status: "delivered", ts: t0 + int64(k)})
					ids = append(ids, id)
				}
				body := metaJSON(t, 0, sts...)
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set(SignatureHeader, sign(testSecret, body))
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					return // killed
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, ids)
					mu.Unlock()
				}
			}
		}(w)
	}
	// Kill while bodies are being taken.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 100 {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	cmd.Wait()
	stop.Store(true)
	wg.Wait()

	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 100 {
		t.Fatalf("only %d bodies acknowledged before the kill", len(acked))
	}
	lost := 0
	for _, ids := range acked {
		for _, id := range ids {
			if s.Status(id) != Delivered {
				lost++
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d acknowledged events lost after kill -9", lost)
	}
	t.Logf("%d bodies sent, %d acknowledged (%d events), all in the store after kill -9; %d events stored in all",
		sent.Load(), len(acked), len(acked)*perBody, s.Stats().Events)
}
