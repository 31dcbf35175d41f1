// Command example is the README's quick start: a persistent cache with a
// loader, in a dozen lines.
package main

import (
	"fmt"
	"log"
	"time"

	tiercache "github.com/tiercache/tiercache/bindings/go"
)

func main() {
	c, err := tiercache.Open(tiercache.Options{Dir: "/tmp/tiercache-demo"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.SetLoader(func(key []byte) ([]byte, error) { // runs once per missing key
		return []byte("computed " + string(key)), nil
	})
	c.Put([]byte("greeting"), []byte("hello"), time.Hour)
	v1, _ := c.Get([]byte("greeting"))
	v2, _ := c.Get([]byte("answer")) // a miss: the loader fills it
	fmt.Printf("%s, %s\n", v1, v2)
}
