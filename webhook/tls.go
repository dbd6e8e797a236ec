package webhook

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// KeyPair is a TLS certificate and key served from files and reloaded when
// either file changes (a renewed cert-manager Secret, a rotated mount), with
// no restart. The files are looked at on every TLS handshake: two stat calls,
// small beside the handshake itself.
type KeyPair struct {
	certFile, keyFile string
	log               *slog.Logger

	mu   sync.Mutex
	cert *tls.Certificate
	// loaded are the files' stats of the pair in cert; refused those of a
	// pair that did not load, and statErr the last failure to stat them (so
	// that a problem is reported once, not on every handshake).
	loaded, refused [2]os.FileInfo
	statErr         string
}

// LoadKeyPair reads a PEM certificate (chain) and key. A pair that does not
// load now is an error; one that stops loading later (a half-written
// rotation) is logged and the previous pair keeps serving until both files
// are consistent again.
func LoadKeyPair(certFile, keyFile string, log *slog.Logger) (*KeyPair, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &KeyPair{certFile: certFile, keyFile: keyFile, log: log}
	st, err := k.stat()
	if err != nil {
		return nil, err
	}
	if err := k.load(st); err != nil {
		return nil, err
	}
	return k, nil
}

// TLSConfig is a server configuration that serves the key pair, reloaded.
func (k *KeyPair) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: k.Certificate}
}

// Certificate is a tls.Config.GetCertificate: the current pair, reloaded
// first when the files changed since it was loaded.
func (k *KeyPair) Certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, err := k.stat()
	if err == nil {
		k.statErr = ""
	}
	switch {
	case err != nil:
		if err.Error() != k.statErr {
			k.statErr = err.Error()
			k.log.Warn("cannot read the TLS certificate files; serving the certificate loaded before", "err", err)
		}
	case !same(st, k.loaded) && !same(st, k.refused):
		if err := k.load(st); err != nil {
			k.refused = st
			k.log.Warn("TLS certificate files changed but do not load; serving the certificate loaded before", "err", err)
		} else {
			k.log.Info("TLS certificate reloaded", "cert_file", k.certFile, "not_after", k.cert.Leaf.NotAfter)
		}
	}
	return k.cert, nil
}

func (k *KeyPair) stat() ([2]os.FileInfo, error) {
	var st [2]os.FileInfo
	for i, f := range [2]string{k.certFile, k.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return st, fmt.Errorf("tls: %w", err)
		}
		st[i] = fi
	}
	return st, nil
}

func (k *KeyPair) load(st [2]os.FileInfo) error {
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s and %s: %w", k.certFile, k.keyFile, err)
	}
	k.cert, k.loaded = &c, st
	return nil
}

// same reports whether two stats of the pair show the same files, unchanged:
// same file (a mounted Secret's update swaps a symlink to new files), size and
// modification time.
func same(a, b [2]os.FileInfo) bool {
	for i := range a {
		if a[i] == nil || b[i] == nil || !os.SameFile(a[i], b[i]) ||
			a[i].Size() != b[i].Size() || !a[i].ModTime().Equal(b[i].ModTime()) {
			return false
		}
	}
	return true
}
