package grouplog_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/prep-audio/prep/internal/grouplog"
)

func Example() {
	dir, _ := os.MkdirTemp("", "grouplog")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "journal")
	g, err := grouplog.Open(path, grouplog.Options{Perm: 0o600})
	if err != nil {
		fmt.Println(err)
		return
	}
	grouplog.SyncDir(dir)
	seq, _ := g.Queue([]byte(`{"state":"sending"}`), []byte("\n"))
	if err := g.Wait(seq); err != nil { // written and fsync'd
		fmt.Println(err)
	}
	g.Close()
	b, _ := os.ReadFile(path)
	fmt.Print(string(b))
	// Output: {"state":"sending"}
}
