package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// TestCacheBehind: a record read from the cache at a version this runner's
// own status write replaced is behind (its event is on the way); the
// version that write made, or one somebody else made since, is not.
func TestCacheBehind(t *testing.T) {
	r := &Runner{superseded: map[string]*writes{}}
	note := r.noteWrite
	behind := func(name, rv string) bool {
		return r.cacheBehind(&v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv}})
	}
	if behind("a", "1") {
		t.Fatal("a record this runner never wrote is behind")
	}
	note("a", "1", "2") // Running
	note("a", "2", "3") // the outcome
	for _, rv := range []string{"1", "2"} {
		if !behind("a", rv) {
			t.Errorf("version %s, replaced by this runner's own write, is not behind", rv)
		}
	}
	if behind("a", "7") {
		t.Error("a version somebody else wrote is behind")
	}
	if behind("a", "3") {
		t.Error("the version of the runner's last write is behind")
	}
	if behind("a", "2") {
		t.Error("once the cache has caught up, nothing is behind any more")
	}
	for i := range maxReplaced + 2 {
		note("b", string(rune('a'+i)), string(rune('a'+i+1)))
	}
	if behind("b", "a") {
		t.Errorf("more than %d replaced versions are remembered", maxReplaced)
	}
	if !behind("b", string(rune('a'+maxReplaced+1))) {
		t.Error("the latest replaced version is forgotten")
	}
	r.forget("b")
	if behind("b", string(rune('a'+maxReplaced+1))) {
		t.Error("a forgotten record is behind")
	}
}
