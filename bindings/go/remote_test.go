package tiercache

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startRedis runs a redis-server on a free loopback port for the test, and
// stops it when the test ends.
func startRedis(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("needs redis-server (scripts/deps.sh installs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if conn, err := net.Dial("tcp", addr); err == nil {
			_, _ = conn.Write([]byte("PING\r\n"))
			buf := make([]byte, 5)
			n, _ := conn.Read(buf)
			conn.Close()
			if string(buf[:n]) == "+PONG" {
				break
			}
		}
		if i > 4000 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return "redis://" + addr
}

func counter(t *testing.T, c *Cache, name string) uint64 {
	t.Helper()
	n, err := c.Counter(name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRemoteSharedBetweenCaches(t *testing.T) {
	url := startRedis(t)
	a := open(t, Options{RemoteURL: url, RemoteNamespace: "go-a", RemoteTimeout: 500 * time.Millisecond})
	b := open(t, Options{RemoteURL: url, RemoteNamespace: "go-a"})
	if got := counter(t, a, "remote_state"); got != 1 {
		t.Fatalf("remote_state %d, want 1", got)
	}
	if why, err := a.RemoteReason(); err != nil || why != "" {
		t.Fatalf("RemoteReason() = %q, %v; want \"\" while ok", why, err)
	}
	mustPut(t, a, "k", "v1")
	wantValue(t, b, "k", "v1")
	if got := counter(t, b, "remote_hits"); got != 1 {
		t.Fatalf("remote_hits %d, want 1", got)
	}
	if err := a.Remove([]byte("k")); err != nil {
		t.Fatal(err)
	}
	for i := 0; counter(t, b, "remote_invalidations_received") < 2; i++ {
		if i > 4000 {
			t.Fatal("no invalidation")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err := b.Get([]byte("k"))
	wantErr(t, err, ErrNotFound)
}

func TestRemoteSecretRefusesUnsigned(t *testing.T) {
	url := startRedis(t)
	secret := []byte("0123456789abcdef")
	a := open(t, Options{RemoteURL: url, RemoteNamespace: "go-s", RemoteSecret: secret})
	plain := open(t, Options{RemoteURL: url, RemoteNamespace: "go-s"})
	mustPut(t, a, "k", "v")
	_, err := plain.Get([]byte("k"))
	wantErr(t, err, ErrNotFound)
	if got := counter(t, plain, "remote_errors"); got != 1 {
		t.Fatalf("remote_errors %d, want 1", got)
	}
}

func TestRemoteBadOptions(t *testing.T) {
	for _, o := range []Options{
		{RemoteURL: "http://localhost:1"},
		{RemoteURL: "redis://localhost:1", RemoteNamespace: strings.Repeat("n", 256)},
		{RemoteURL: "redis://localhost:1", RemoteSecret: []byte("short")},
	} {
		c, err := Open(o)
		if !errors.Is(err, ErrInvalidArgument) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("%+v: %v, want ErrInvalidArgument", o.RemoteURL, err)
		}
	}
	if _, err := Open(Options{RemoteURL: "gopher://x"}); err == nil || !strings.Contains(err.Error(), "unknown scheme") {
		t.Fatalf("the reason is missing: %v", err)
	}
}

func TestRemoteUnreachableStillWorks(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := open(t, Options{RemoteURL: fmt.Sprintf("redis://127.0.0.1:%d", port), RemoteTimeout: 100 * time.Millisecond})
	if got := counter(t, c, "remote_state"); got != 2 {
		t.Fatalf("remote_state %d, want 2", got)
	}
	if why, err := c.RemoteReason(); err != nil || why == "" {
		t.Fatalf("RemoteReason() = %q, %v; want the reason", why, err)
	}
	if _, err := open(t, Options{}).RemoteReason(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RemoteReason() without a remote tier: %v, want ErrNotFound", err)
	}
	mustPut(t, c, "k", "v")
	wantValue(t, c, "k", "v")
}
