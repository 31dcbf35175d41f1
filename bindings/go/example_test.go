package tiercache_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	tiercache "github.com/tiercache/tiercache/bindings/go"
)

// A persistent cache: values put before Close are there after the next Open.
func Example() {
	dir, err := os.MkdirTemp("", "tiercache-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	c, err := tiercache.Open(tiercache.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Put([]byte("greeting"), []byte("hello, disk"), time.Hour); err != nil {
		log.Fatal(err)
	}
	c.Close()

	// A new handle on the same directory: "a restart".
	c, err = tiercache.Open(tiercache.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	v, err := c.Get([]byte("greeting"))
	fmt.Printf("%s %v\n", v, err)

	_, err = c.Get([]byte("nobody"))
	fmt.Println(errors.Is(err, tiercache.ErrNotFound))
	// Output:
	// hello, disk <nil>
	// true
}

// A loader fills misses: it runs once per missing key, and its answer is
// cached for the TTL given to SetLoaderTTL.
func ExampleCache_SetLoaderTTL() {
	c, err := tiercache.Open(tiercache.Options{}) // memory only
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	c.SetLoaderTTL(func(key []byte) ([]byte, error) {
		if string(key) == "missing" {
			return nil, tiercache.ErrNotFound // "no such value", not a failure
		}
		fmt.Printf("loading %s\n", key)
		return []byte("value of " + string(key)), nil
	}, time.Minute)

	for i := 0; i < 2; i++ {
		v, _ := c.Get([]byte("user:42"))
		fmt.Println(string(v))
	}
	_, err = c.Get([]byte("missing"))
	fmt.Println(errors.Is(err, tiercache.ErrNotFound))
	// Output:
	// loading user:42
	// value of user:42
	// value of user:42
	// true
}
