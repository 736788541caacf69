package inspect

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// OpenRegular opens path for reading if it is a regular file (or a
// symbolic link to one), and refuses anything else — a FIFO, a character
// or block device such as /dev/zero, a socket, a directory — with an
// *Error of kind KindNotRegular naming the file and what it is.
//
// It never blocks: opening a FIFO for reading waits in open(2) for a
// writer, where no signal or context can end it. The file's type is
// checked before it is opened, and, because the path may be swapped in
// between, again on the opened descriptor, which is opened with O_NONBLOCK
// (no effect on a regular file, and open(2) of a FIFO returns at once).
// Use it for every path a user names.
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, &Error{Path: path, Kind: KindUnreadable, Err: unwrapPathError(err)}
	}
	if err := regular(path, st); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, &Error{Path: path, Kind: KindUnreadable, Err: unwrapPathError(err)}
	}
	st, err = f.Stat()
	if err == nil {
		err = regular(path, st)
	}
	if err != nil {
		f.Close()
		var ie *Error
		if !errors.As(err, &ie) {
			err = &Error{Path: path, Kind: KindUnreadable, Err: err}
		}
		return nil, nil, err
	}
	return f, st, nil
}

// regular refuses a file that is not a regular file, saying what it is.
func regular(path string, st fs.FileInfo) error {
	m := st.Mode()
	if m.IsRegular() {
		return nil
	}
	what := "not a regular file"
	switch {
	case m.IsDir():
		what = "a directory, not a regular file"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO), not a regular file"
	case m&fs.ModeSocket != 0:
		what = "a socket, not a regular file"
	case m&fs.ModeCharDevice != 0:
		what = "a character device, not a regular file"
	case m&fs.ModeDevice != 0:
		what = "a block device, not a regular file"
	case m&fs.ModeIrregular != 0:
		what = "of an unknown type, not a regular file"
	}
	return &Error{Path: path, Kind: KindNotRegular, Err: errors.New(what)}
}

// unwrapPathError drops the *fs.PathError's "open PATH:" prefix: the
// *Error names the path already.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
