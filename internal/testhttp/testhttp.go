package testhttp

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// Trickle sends a POST /webhook to addr with its headers at once and then its
// body one byte a second, as a slow or hostile client does, and returns the
// answer. finished is set once the last byte of the body is being written:
// an answer read before it did not wait for the body.
func Trickle(t *testing.T, addr, header string, body []byte) (resp *http.Response, finished *atomic.Bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// A bound for the test itself, far beyond the answer wanted at once.
	if err := conn.SetDeadline(time.Now().Add(2 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("POST /webhook HTTP/1.1\r\nHost: alertmedic\r\nContent-Length: %d\r\n%s\r\n", len(body), header)
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	finished = new(atomic.Bool)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := range body {
			// Set before the last byte goes: an answer read after this may
			// have waited for the whole body.
			finished.Store(i == len(body)-1)
			if _, err := conn.Write(body[i : i+1]); err != nil {
				return // the server closed the connection: expected once it answered
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp, finished
}

// SelfSigned writes a new self-signed certificate for 127.0.0.1 and its key
// to certFile and keyFile, each replaced by rename as a mounted Secret's
// update does, and returns its serial number. The key is renamed first: a
// handshake between the two renames sees a mismatched pair.
func SelfSigned(t *testing.T, certFile, keyFile string) *big.Int {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "alertmedic"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for path, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path+".tmp", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{keyFile, certFile} {
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	return serial
}
