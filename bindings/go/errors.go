package tiercache

import (
	"errors"
	"fmt"
)

// Status is a tc_status from the C library. The numeric values are fixed by
// the C contract.
type Status int

// The statuses of tiercache.h, with the same numbers.
const (
	StatusOK             Status = 0
	StatusNotFound       Status = 1
	StatusInvalidArg     Status = 2
	StatusTooLarge       Status = 3
	StatusIOError        Status = 4
	StatusLocked         Status = 5
	StatusCorrupt        Status = 6
	StatusLoaderFailed   Status = 7
	StatusBufferTooSmall Status = 8
	StatusPanic          Status = 9
	StatusClosed         Status = 10
)

// Name is the C enumerator's name, e.g. "TC_NOT_FOUND" (used by the shared
// test vectors and handy in logs).
func (s Status) Name() string {
	if int(s) >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("TC_STATUS_%d", int(s))
}

func (s Status) String() string { return s.Name() }

var statusNames = [...]string{
	"TC_OK", "TC_NOT_FOUND", "TC_INVALID_ARGUMENT", "TC_TOO_LARGE", "TC_IO_ERROR",
	"TC_LOCKED", "TC_CORRUPT", "TC_LOADER_FAILED", "TC_BUFFER_TOO_SMALL", "TC_PANIC",
	"TC_CLOSED",
}

// Sentinel errors, one per failure status. Every error this package returns
// for a failed C call is an *Error whose Is matches exactly one of these, so
// callers write errors.Is(err, tiercache.ErrNotFound).
var (
	ErrNotFound        = errors.New("tiercache: not found")
	ErrInvalidArgument = errors.New("tiercache: invalid argument")
	ErrTooLarge        = errors.New("tiercache: too large")
	ErrIO              = errors.New("tiercache: I/O error")
	ErrLocked          = errors.New("tiercache: directory locked by another handle")
	ErrCorrupt         = errors.New("tiercache: corrupt or unreadable cache directory")
	ErrLoaderFailed    = errors.New("tiercache: loader failed")
	ErrBufferTooSmall  = errors.New("tiercache: buffer too small")
	ErrPanic           = errors.New("tiercache: internal panic in the library")
	// ErrClosed matches the error of every method called after Close (or
	// while Close is running): the library's TC_CLOSED.
	ErrClosed = errors.New("tiercache: cache is closed")
)

var sentinels = [...]error{
	StatusNotFound:       ErrNotFound,
	StatusInvalidArg:     ErrInvalidArgument,
	StatusTooLarge:       ErrTooLarge,
	StatusIOError:        ErrIO,
	StatusLocked:         ErrLocked,
	StatusCorrupt:        ErrCorrupt,
	StatusLoaderFailed:   ErrLoaderFailed,
	StatusBufferTooSmall: ErrBufferTooSmall,
	StatusPanic:          ErrPanic,
	StatusClosed:         ErrClosed,
}

// Sentinel is the sentinel error for s (nil for StatusOK or an unknown status).
func (s Status) Sentinel() error {
	if s > 0 && int(s) < len(sentinels) {
		return sentinels[s]
	}
	return nil
}

// Error is a failed call: the status, the operation, and the library's own
// message (tc_last_error(), read on the OS thread that failed: it names the
// argument, path, OS error or limit involved).
//
// errors.Is(err, ErrX) matches the status's sentinel. For a load that failed
// because the Go loader returned an error, Cause holds that error and
// errors.Is / errors.As see through to it as well.
type Error struct {
	Status Status // never StatusOK
	Op     string // the Go method, e.g. "Get"
	Msg    string // tc_last_error() at the time of the failure; may be empty
	Cause  error  // the loader's own error, for StatusLoaderFailed; else nil
}

func (e *Error) Error() string {
	s := "tiercache: " + e.Op + ": " + e.Status.Name()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap gives the status's sentinel and, if any, the loader's error.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if s := e.Status.Sentinel(); s != nil {
		errs = append(errs, s)
	}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}

// newError builds the error for a failed C call.
func newError(op string, st Status, msg string) error {
	return &Error{Status: st, Op: op, Msg: msg}
}
