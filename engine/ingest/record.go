package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/prometheus/alertmanager/template"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
)

// EpisodeKey identifies one firing episode of one alert acted on by one rule
// on one target (policy.EpisodeKey, which 'alertmedic test' uses too).
func EpisodeKey(rule string, t v1alpha1.Target, a *template.Alert) string {
	return policy.EpisodeKey(rule, t.String(), a.Fingerprint, a.StartsAt)
}

// RecordName is the name of the Remediation for an episode key. It is the
// same on every replica and after every restart, so creating the record is
// the exactly-once gate: AlreadyExists means the episode is handled.
func RecordName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "rem-" + hex.EncodeToString(sum[:10])
}

// recordName is RecordName(EpisodeKey(rule, t, a)), the same bytes hashed,
// without building the key: every notification computes it for every
// match, re-sends included.
func recordName(rule string, t v1alpha1.Target, a *template.Alert) string {
	var buf [256]byte
	key := append(buf[:0], rule...)
	key = append(key, '|')
	key = append(key, t.Kind...)
	key = append(key, '/')
	key = append(key, t.Namespace...)
	key = append(key, '/')
	key = append(key, t.Name...)
	key = append(key, '|')
	key = append(key, a.Fingerprint...)
	key = append(key, '|')
	key = a.StartsAt.UTC().AppendFormat(key, time.RFC3339Nano)
	sum := sha256.Sum256(key)
	var name [4 + 2*10]byte
	copy(name[:], "rem-")
	hex.Encode(name[4:], sum[:10])
	return string(name[:])
}

// labelValue makes s usable as a label value (63 characters at most, begins
// and ends alphanumeric); rule names and alert names already are, mostly.
func labelValue(s string) string {
	if len(s) > 63 {
		s = s[:63]
	}
	for len(s) > 0 && !isAlnum(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	for len(s) > 0 && !isAlnum(s[0]) {
		s = s[1:]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return ""
		}
	}
	return s
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// NewRecord is the Remediation planned for one rule match of one alert: the
// spec the rules plan, in a record named and labelled for the episode.
func NewRecord(namespace, name string, m rules.Match, a *template.Alert, dryRun bool, now time.Time) *v1alpha1.Remediation {
	t := m.Target
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   namespace,
			Annotations: map[string]string{v1alpha1.AnnotationRecordedAt: now.UTC().Format(time.RFC3339Nano)},
			Labels: map[string]string{
				v1alpha1.LabelRule:   labelValue(m.Rule.Name),
				v1alpha1.LabelTarget: v1alpha1.TargetLabel(t.Kind, t.Namespace, t.Name),
				v1alpha1.LabelAlert:  labelValue(a.Labels["alertname"]),
			},
		},
		Spec: m.Spec(a),
	}
	rec.Spec.DryRun = dryRun
	return rec
}
