//go:build race

package e2e

// raceEnabled: the tests run with -race, so the alertmedic binary they start
// is built with it too (and a data race makes it exit non-zero).
const raceEnabled = true
