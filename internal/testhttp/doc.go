// Package testhttp holds what tests of alertmedic's HTTP edge share: a
// client that sends its body one byte a second, and self-signed
// certificates written as a mounted Secret is updated. For tests only.
package testhttp
