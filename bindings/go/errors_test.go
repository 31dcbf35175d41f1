package tiercache

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestSentinels provokes every status a caller can reach through the public
// API and checks it with errors.Is (and that it matches no other sentinel).
// Not reachable on purpose: ErrIO (needs a failing disk), ErrCorrupt (needs
// a directory of a newer format) and ErrPanic (a library bug).
func TestSentinels(t *testing.T) {
	dir := t.TempDir()
	c := open(t, Options{Dir: dir, MaxValueSize: 1024})
	c.SetLoader(func(k []byte) ([]byte, error) {
		switch string(k) {
		case "fail":
			return nil, errors.New("backend down")
		case "none":
			return nil, ErrNotFound
		}
		return k, nil
	})
	_, lockedErr := Open(Options{Dir: dir})
	_, notFoundErr := c.Get([]byte("none"))
	_, loaderErr := c.Get([]byte("fail"))
	_, smallErr := c.GetInto([]byte("twelve bytes"), make([]byte, 4))
	closed := open(t, Options{})
	closed.Close()
	closedErr := closed.Put([]byte("k"), []byte("v"), 0)

	cases := []struct {
		name   string
		err    error
		target error
		status Status
	}{
		{"empty key", c.Put(nil, []byte("v"), 0), ErrInvalidArgument, StatusInvalidArg},
		{"65537-byte key", c.Put(bytes.Repeat([]byte("a"), 65537), []byte("v"), 0), ErrTooLarge, StatusTooLarge},
		{"value over MaxValueSize", c.Put([]byte("k"), make([]byte, 1025), 0), ErrTooLarge, StatusTooLarge},
		{"locked dir", lockedErr, ErrLocked, StatusLocked},
		{"not found", notFoundErr, ErrNotFound, StatusNotFound},
		{"loader failed", loaderErr, ErrLoaderFailed, StatusLoaderFailed},
		{"buffer too small", smallErr, ErrBufferTooSmall, StatusBufferTooSmall},
		{"closed", closedErr, ErrClosed, StatusClosed},
	}
	all := []error{ErrNotFound, ErrInvalidArgument, ErrTooLarge, ErrIO, ErrLocked,
		ErrCorrupt, ErrLoaderFailed, ErrBufferTooSmall, ErrPanic, ErrClosed}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.target) {
				t.Fatalf("err = %v, want errors.Is %v", tc.err, tc.target)
			}
			for _, other := range all {
				if other != tc.target && errors.Is(tc.err, other) {
					t.Errorf("err = %v also matches %v", tc.err, other)
				}
			}
			var e *Error
			if !errors.As(tc.err, &e) || e.Status != tc.status {
				t.Fatalf("err = %#v, want *Error with status %v", tc.err, tc.status)
			}
			if e.Msg == "" {
				t.Errorf("no tc_last_error() message in %v", tc.err)
			}
			t.Logf("%v", tc.err)
		})
	}
	// The key at exactly the limit is fine.
	if err := c.Put(bytes.Repeat([]byte("a"), 65536), []byte("v"), 0); err != nil {
		t.Fatalf("65536-byte key: %v", err)
	}
}

func TestStatusNames(t *testing.T) {
	for s := StatusOK; s <= StatusClosed; s++ {
		if (s == StatusOK) != (s.Sentinel() == nil) {
			t.Errorf("%v: sentinel %v", s, s.Sentinel())
		}
	}
	if StatusNotFound.Name() != "TC_NOT_FOUND" || Status(42).Name() != "TC_STATUS_42" {
		t.Fatal("Status.Name")
	}
}

// The message is read on the thread that failed, inside the same C call: many
// goroutines failing differently at once must each see their own message.
func TestErrorMessagesDoNotCross(t *testing.T) {
	c := open(t, Options{MaxValueSize: 16})
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func(g int) {
			for i := 0; i < 500; i++ {
				var err error
				var want Status
				if g%2 == 0 {
					err, want = c.Put(nil, []byte("v"), 0), StatusInvalidArg
				} else {
					err, want = c.Put([]byte("k"), make([]byte, 17), 0), StatusTooLarge
				}
				var e *Error
				if !errors.As(err, &e) || e.Status != want {
					done <- fmt.Errorf("got %v, want %v", err, want)
					return
				}
				// The invalid-argument message is about the key, the
				// too-large one about the value's size.
				if (want == StatusTooLarge) != bytes.Contains([]byte(e.Msg), []byte("maximum")) {
					done <- fmt.Errorf("status %v with someone else's message %q", want, e.Msg)
					return
				}
			}
			done <- nil
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
