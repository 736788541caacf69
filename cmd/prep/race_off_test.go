//go:build !race

package main

// raceBuild: the tests do not run under the race detector.
const raceBuild = false
