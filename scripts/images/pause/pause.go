// The pod sandbox's pause program for the real test node (registry.k8s.io/pause:3.10 cannot be
// pulled here): it only holds the pod's namespaces, until SIGTERM or SIGINT.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
