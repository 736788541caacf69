package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// prep worker's and prep batch --queue's two-stage stop counts the same
// stop delivered twice (two signals within sameSignalWindow, as `timeout`
// delivers them) once: the second signal of a pair does not stop at once,
// a later one does. Before the fix the pair cancelled the hard context.
func TestTwoStageSignalsSameStopTwice(t *testing.T) {
	hard, stop := twoStageSignals(t.Context())
	defer stop()
	self := os.Getpid()
	syscall.Kill(self, syscall.SIGINT)
	time.Sleep(10 * time.Millisecond)
	syscall.Kill(self, syscall.SIGINT)
	select {
	case <-hard.Done():
		t.Fatal("two signals 10 ms apart (one stop delivered twice) stopped at once")
	case <-time.After(300 * time.Millisecond):
	}
	syscall.Kill(self, syscall.SIGINT)
	select {
	case <-hard.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a second Ctrl-C 300 ms later did not stop at once")
	}
}
