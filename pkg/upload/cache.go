package upload

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/rules"
	"github.com/prep-audio/prep/pkg/send"
)

// CacheSafetyMargin is how long before Meta forgets a media id
// (rules.MediaIDLifetime, 30 days) the cache stops offering it, so that an
// id taken from the cache is still valid when the message is sent and when
// the recipient's phone downloads it.
const CacheSafetyMargin = 3 * 24 * time.Hour

// CacheTTL is how long a cached media id is used: rules.MediaIDLifetime
// minus CacheSafetyMargin.
const CacheTTL = rules.MediaIDLifetime - CacheSafetyMargin

// CacheKey identifies one upload: the same bytes uploaded to the same
// provider endpoint for the same account.
type CacheKey struct {
	Provider send.Provider `json:"provider"`
	Endpoint string        `json:"endpoint"` // the media endpoint URL (sandbox and production never mix)
	Account  string        `json:"account"`  // phone number id, or a digest of the 360dialog key
	SHA256   string        `json:"sha256"`
}

func (k CacheKey) file() string {
	sum := sha256.Sum256([]byte(string(k.Provider) + "\x00" + k.Endpoint + "\x00" + k.Account + "\x00" + k.SHA256))
	return hex.EncodeToString(sum[:]) + ".json"
}

// CacheEntry is a remembered media id.
type CacheEntry struct {
	MediaID  string    `json:"media_id"`
	MIME     string    `json:"mime"`
	Ext      string    `json:"ext"`
	Bytes    int64     `json:"bytes"`
	Uploaded time.Time `json:"uploaded"`
	Expires  time.Time `json:"expires"`
}

type cacheFile struct {
	Key CacheKey `json:"key"`
	CacheEntry
}

// Cache is an on-disk media-id cache: one small JSON file per entry,
// written to a temporary file and renamed into place, so concurrent
// processes only ever see whole entries (the last writer wins; both ids are
// valid). It holds no credentials.
type Cache struct {
	dir string
	ttl time.Duration
	now func() time.Time
}

// DefaultCacheDir is os.UserCacheDir()/prep/media-ids ($XDG_CACHE_HOME
// moves it on Linux).
func DefaultCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "prep", "media-ids"), nil
}

// OpenCache opens (creating) the cache in dir; "" means DefaultCacheDir.
func OpenCache(dir string) (*Cache, error) {
	if dir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Cache{dir: dir, ttl: CacheTTL, now: time.Now}, nil
}

// Dir is the cache directory.
func (c *Cache) Dir() string { return c.dir }

// Get returns the entry for k if it exists and has not expired.
func (c *Cache) Get(k CacheKey) (CacheEntry, bool) {
	path := filepath.Join(c.dir, k.file())
	b, err := os.ReadFile(path)
	if err != nil {
		return CacheEntry{}, false
	}
	var f cacheFile
	if json.Unmarshal(b, &f) != nil || f.Key != k || f.MediaID == "" {
		return CacheEntry{}, false
	}
	now := c.now()
	if !now.Before(f.Expires) || f.Uploaded.After(now.Add(time.Minute)) || f.Expires.Sub(f.Uploaded) > c.ttl {
		// Not removed here: another process may have just written a fresh
		// entry under this name, and removing it would lose that upload.
		// Prune removes expired entries; Put replaces them.
		return CacheEntry{}, false
	}
	return f.CacheEntry, true
}

// Put stores e under k. Uploaded defaults to now and Expires to
// Uploaded+CacheTTL (never later).
func (c *Cache) Put(k CacheKey, e CacheEntry) error {
	if e.MediaID == "" {
		return errors.New("cache: empty media id")
	}
	if e.Uploaded.IsZero() {
		e.Uploaded = c.now()
	}
	if limit := e.Uploaded.Add(c.ttl); e.Expires.IsZero() || e.Expires.After(limit) {
		e.Expires = limit
	}
	b, err := json.Marshal(cacheFile{Key: k, CacheEntry: e})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), filepath.Join(c.dir, k.file()))
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
	}
	return werr
}

// Delete forgets k (e.g. when a provider says the media id is unknown).
func (c *Cache) Delete(k CacheKey) error {
	err := os.Remove(filepath.Join(c.dir, k.file()))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Prune removes expired entries and stale temporary files; it returns how
// many files it removed.
func (c *Cache) Prune() (int, error) {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return 0, err
	}
	n := 0
	now := c.now()
	for _, de := range ents {
		path := filepath.Join(c.dir, de.Name())
		if strings.HasPrefix(de.Name(), ".tmp-") {
			if info, err := de.Info(); err == nil && now.Sub(info.ModTime()) > time.Hour && os.Remove(path) == nil {
				n++
			}
			continue
		}
		if !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var f cacheFile
		if json.Unmarshal(b, &f) != nil || !now.Before(f.Expires) {
			if os.Remove(path) == nil {
				n++
			}
		}
	}
	return n, nil
}
