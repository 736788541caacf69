package pipeline

import (
	"fmt"
	"os"
)

// ReadJournal reads the records of the journal at path without locking or
// changing it — a batch may be writing it — for reports such as `prep
// status`. A torn last line (a record being written) is left out; any
// other unreadable line is an error wrapping ErrJournalCorrupt that names
// it. What is not a regular file is refused before it is opened.
func ReadJournal(path string) ([]Record, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &JournalError{Path: path, Err: err}
	}
	if !fi.Mode().IsRegular() {
		return nil, &JournalError{Path: path, Err: fmt.Errorf("not a regular file (%s)", fi.Mode().Type())}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &JournalError{Path: path, Err: err}
	}
	defer f.Close()
	rp, err := replayJournal(f)
	if err != nil {
		return nil, &JournalError{Path: path, Err: err}
	}
	if len(rp.bad) > 0 {
		return nil, &JournalError{Path: path, Line: rp.bad[0].line, Err: ErrJournalCorrupt}
	}
	return rp.recs, nil
}
