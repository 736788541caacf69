package natstest

import "testing"

func TestInUse(t *testing.T) {
	for _, c := range []struct {
		name string
		log  string
		port int
		want bool
	}{
		{"client port", `[1] [FTL] Error listening on port: 127.0.0.1:35327, "listen tcp 127.0.0.1:35327: bind: address already in use"`, 35327, true},
		{"route port", `[1] [FTL] Error listening on router port: 35328 - listen tcp 127.0.0.1:35328: bind: address already in use`, 35327, false},
		{"client port named, route port taken", "[1] [INF] Listening for client connections on 127.0.0.1:35327\n" +
			`[1] [FTL] Error listening on router port: 35328 - listen tcp 127.0.0.1:35328: bind: address already in use`, 35327, false},
		{"another error", `[1] [FTL] Error listening on port: 127.0.0.1:35327, "listen tcp 127.0.0.1:35327: bind: permission denied"`, 35327, false},
	} {
		if got := inUse(c.log, c.port); got != c.want {
			t.Errorf("%s: inUse = %v, want %v", c.name, got, c.want)
		}
	}
}
