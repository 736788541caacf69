package upload

import (
	"fmt"
	"github.com/prep-audio/prep/pkg/send"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/rules"
)

func TestCacheTTLIsUnderMetaLifetime(t *testing.T) {
	if CacheTTL <= 0 || CacheTTL >= rules.MediaIDLifetime {
		t.Fatalf("CacheTTL %v must be positive and under Meta's %v", CacheTTL, rules.MediaIDLifetime)
	}
}

func TestCacheGetPutExpire(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	k := CacheKey{Provider: send.Meta, Endpoint: "https://graph.facebook.com/v23.0/1/media", Account: "1", SHA256: strings.Repeat("a", 64)}
	if _, ok := c.Get(k); ok {
		t.Fatal("hit in an empty cache")
	}
	if err := c.Put(k, CacheEntry{MediaID: "m1", MIME: "audio/ogg", Ext: ".ogg", Bytes: 10}); err != nil {
		t.Fatal(err)
	}
	e, ok := c.Get(k)
	if !ok || e.MediaID != "m1" || e.MIME != "audio/ogg" || !e.Expires.Equal(now.Add(CacheTTL)) {
		t.Fatalf("got %+v %v", e, ok)
	}
	for name, other := range map[string]CacheKey{
		"provider": {Provider: send.D360, Endpoint: k.Endpoint, Account: k.Account, SHA256: k.SHA256},
		"endpoint": {Provider: send.Meta, Endpoint: "http://127.0.0.1:1/meta/v23.0/1/media", Account: k.Account, SHA256: k.SHA256},
		"account":  {Provider: send.Meta, Endpoint: k.Endpoint, Account: "2", SHA256: k.SHA256},
		"content":  {Provider: send.Meta, Endpoint: k.Endpoint, Account: k.Account, SHA256: strings.Repeat("b", 64)},
	} {
		if _, ok := c.Get(other); ok {
			t.Errorf("another %s hits the entry", name)
		}
	}
	// A caller cannot stretch an entry past the TTL.
	if err := c.Put(k, CacheEntry{MediaID: "m2", Expires: now.Add(rules.MediaIDLifetime * 2)}); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Get(k); !e.Expires.Equal(now.Add(CacheTTL)) {
		t.Fatalf("expiry stretched to %v", e.Expires)
	}
	now = now.Add(CacheTTL - time.Second)
	if _, ok := c.Get(k); !ok {
		t.Fatal("entry gone before its expiry")
	}
	now = now.Add(time.Second)
	if _, ok := c.Get(k); ok {
		t.Fatal("entry used at its expiry")
	}
	if err := c.Delete(k); err != nil {
		t.Fatal(err)
	}
}

func TestCacheFileHoldsNoSecret(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	const key = "d360-secret-api-key-abcdef"
	d, err := send.NewD360(send.WithAPIKey(key))
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewMedia(d, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(u.CacheKey(strings.Repeat("c", 64)), CacheEntry{MediaID: "x"}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 {
		t.Fatalf("files: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	if strings.Contains(string(b), key) || strings.Contains(files[0], key) {
		t.Fatalf("the API key is in the cache: %s", b)
	}
}

func TestCacheDirFollowsXDG(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("XDG_CACHE_HOME only applies on Unix other than macOS")
	}
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	d, err := DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(xdg, "prep", "media-ids"); d != want {
		t.Fatalf("DefaultCacheDir = %s, want %s", d, want)
	}
	c, err := OpenCache("")
	if err != nil || c.Dir() != d {
		t.Fatalf("OpenCache(\"\") = %v, %v", c, err)
	}
}

func TestCachePrune(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.now = func() time.Time { return now }
	for i := range 3 {
		c.Put(CacheKey{Provider: send.Meta, SHA256: strconv.Itoa(i)}, CacheEntry{MediaID: "m", Uploaded: now.Add(-time.Duration(i) * CacheTTL)})
	}
	os.WriteFile(filepath.Join(c.Dir(), "garbage.json"), []byte("{"), 0o600)
	n, err := c.Prune()
	// Entries 1 and 2 are expired, garbage.json is unreadable.
	if err != nil || n != 3 {
		t.Fatalf("pruned %d, %v; want 3", n, err)
	}
	if _, ok := c.Get(CacheKey{Provider: send.Meta, SHA256: "0"}); !ok {
		t.Fatal("the fresh entry was pruned")
	}
}

// TestCacheConcurrentProcesses runs several processes writing and reading
// the same keys at once: every read sees a whole entry, never a torn one.
func TestCacheConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	const procs, rounds = 4, 200
	var wg sync.WaitGroup
	errs := make([]error, procs)
	outs := make([][]byte, procs)
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCacheHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "PREP_CACHE_HELPER_DIR="+dir, "PREP_CACHE_HELPER_ID="+strconv.Itoa(i), "PREP_CACHE_HELPER_ROUNDS="+strconv.Itoa(rounds))
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range procs {
		if errs[i] != nil || !strings.Contains(string(outs[i]), "helper ok") {
			t.Fatalf("process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestCacheHelperProcess is the child of TestCacheConcurrentProcesses.
func TestCacheHelperProcess(t *testing.T) {
	dir := os.Getenv("PREP_CACHE_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	id := os.Getenv("PREP_CACHE_HELPER_ID")
	rounds, _ := strconv.Atoi(os.Getenv("PREP_CACHE_HELPER_ROUNDS"))
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	for r := range rounds {
		k := CacheKey{Provider: send.Meta, Account: "shared", SHA256: strconv.Itoa(r % 5)}
		want := "media-" + k.SHA256
		if err := c.Put(k, CacheEntry{MediaID: want + "-" + id, MIME: "audio/ogg"}); err != nil {
			t.Fatal(err)
		}
		e, ok := c.Get(k)
		if !ok || !strings.HasPrefix(e.MediaID, want+"-") || e.MIME != "audio/ogg" {
			t.Fatalf("round %d: torn or missing entry %+v %v", r, e, ok)
		}
	}
	fmt.Println("helper ok")
}
