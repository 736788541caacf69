package pipeline

import "github.com/prep-audio/prep/internal/grouplog"

// ReadJournal reads the records of the journal at path without locking or
// changing it — a batch may be writing it — for reports such as `prep
// status`. A torn last line (a record being written) is left out; any
// other unreadable line is an error wrapping ErrJournalCorrupt that names
// it. What is not a regular file is refused without being waited on
// (grouplog.OpenRead: a FIFO swapped in after a check cannot block it).
func ReadJournal(path string) ([]Record, error) {
	f, err := grouplog.OpenRead(path) // without blocking; checked on the descriptor
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
