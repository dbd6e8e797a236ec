// Command soak runs alertmedic for a bounded time against a real API server
// (envtest) reached through a fault-injecting proxy, posting a steady stream
// of new alert episodes, re-sends, duplicates and resolves to its webhook.
// At the end it prints, for every episode, how many times its target was
// changed (exactly one is required), and the resident memory and goroutines
// of the alertmedic process over time. 'make soak' runs it; it is not part
// of 'make test'.
package main
