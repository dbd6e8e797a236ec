package rules

import "k8s.io/apimachinery/pkg/util/validation"

// Every target rendered for a matching alert is checked as a Kubernetes
// name, re-sends included. Kubernetes' own checks run a regular expression;
// these scan the bytes instead, and ask Kubernetes only for a name they
// refuse, so the messages are Kubernetes' own. FuzzDNSNames holds them to
// the same verdicts.

// validLabel is validation.IsDNS1123Label (a namespace).
func validLabel(v string) []string {
	if len(v) <= validation.DNS1123LabelMaxLength && isLabel(v) {
		return nil
	}
	return validation.IsDNS1123Label(v)
}

// validSubdomain is validation.IsDNS1123Subdomain (an object name).
func validSubdomain(v string) []string {
	if len(v) <= validation.DNS1123SubdomainMaxLength && isSubdomain(v) {
		return nil
	}
	return validation.IsDNS1123Subdomain(v)
}

// isLabel: [a-z0-9]([-a-z0-9]*[a-z0-9])?, any length.
func isLabel(s string) bool {
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; c != '-' && !alnum(c) {
			return false
		}
	}
	return true
}

// isSubdomain: labels joined by dots.
func isSubdomain(s string) bool {
	for {
		i := 0
		for i < len(s) && s[i] != '.' {
			i++
		}
		if !isLabel(s[:i]) {
			return false
		}
		if i == len(s) {
			return true
		}
		s = s[i+1:]
	}
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
