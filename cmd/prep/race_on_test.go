//go:build race

package main

// raceBuild: the tests run under the race detector, and so does the prep
// binary they start (a race in a child process fails its test too).
const raceBuild = true
