package rules

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

var dnsSeeds = []string{"", "a", "shop", "my-app", "-a", "a-", "A", "a.b", "a..b", ".a", "a.", "x.y-z.0", "a_b", "ä", "a\n",
	strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a.", 126) + "a", strings.Repeat("a", 254)}

// The fast checks give Kubernetes' verdicts and messages.
func TestDNSNames(t *testing.T) {
	for _, s := range dnsSeeds {
		checkDNS(t, s)
	}
}

func FuzzDNSNames(f *testing.F) {
	for _, s := range dnsSeeds {
		f.Add(s)
	}
	f.Fuzz(checkDNS)
}

func checkDNS(t *testing.T, s string) {
	if got, want := validLabel(s), validation.IsDNS1123Label(s); !slices.Equal(got, want) {
		t.Errorf("validLabel(%q) = %q, want %q", s, got, want)
	}
	if got, want := validSubdomain(s), validation.IsDNS1123Subdomain(s); !slices.Equal(got, want) {
		t.Errorf("validSubdomain(%q) = %q, want %q", s, got, want)
	}
}
