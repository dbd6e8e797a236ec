package breaker

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alertmedic/alertmedic/policy"
)

// TestBoundTargets: beyond the bound, the target windows that end soonest
// are forgotten, never the one just published nor a rule's; and the
// bound keeps the ConfigMap far below 1 MiB with the longest names.
func TestBoundTargets(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	win := func(i int) policy.Window {
		return policy.Window{From: t0, Until: t0.Add(time.Duration(i+1) * time.Minute)}
	}
	bs := map[string]policy.Windows{policy.BudgetKey("r", 2, time.Hour): {win(0)}}
	for i := range 10 {
		bs[policy.TargetBudgetKey(fmt.Sprintf("Deployment/shop/app-%d", i), 1, time.Hour)] = policy.Windows{win(i)}
	}
	// Published now, ending sooner than all the others.
	key := policy.TargetBudgetKey("Deployment/shop/new", 1, time.Hour)
	w := policy.Window{From: t0, Until: t0.Add(30 * time.Second)}
	bs[key] = policy.Windows{w}
	if n := boundTargets(bs, key, w, 8); n != 3 {
		t.Errorf("forgot %d, want 3", n)
	}
	for i := range 10 {
		_, kept := bs[policy.TargetBudgetKey(fmt.Sprintf("Deployment/shop/app-%d", i), 1, time.Hour)]
		if kept != (i >= 3) {
			t.Errorf("app-%d kept: %v; want only those that end latest kept", i, kept)
		}
	}
	if len(bs[key]) != 1 {
		t.Error("the window just published was forgotten")
	}
	if len(bs[policy.BudgetKey("r", 2, time.Hour)]) != 1 {
		t.Error("a rule's window was forgotten")
	}
	if n := boundTargets(bs, key, w, 8); n != 0 {
		t.Errorf("within the bound: forgot %d", n)
	}

	// The size at the bound: namespaces and names at their longest.
	big := map[string]policy.Windows{}
	ns, name := strings.Repeat("n", 63), strings.Repeat("x", 253)
	for i := range MaxTargetWindows + 100 {
		k := policy.TargetBudgetKey(fmt.Sprintf("StatefulSet/%s/%s-%d", ns, name[:240], i), 1000, 23*time.Hour+59*time.Minute)
		big[k] = policy.Windows{win(i)}
	}
	k := (policy.Limits{}).CooldownKey(policy.Action{TargetRef: "StatefulSet/" + ns + "/" + name, Cooldown: time.Hour})
	big[k] = policy.Windows{w}
	boundTargets(big, k, w, MaxTargetWindows)
	if len(big) != MaxTargetWindows {
		t.Errorf("%d target windows kept, want %d", len(big), MaxTargetWindows)
	}
	b, err := json.Marshal(big)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 512<<10 {
		t.Errorf("%d bytes of target windows at the bound, want far below 1 MiB", len(b))
	}
	t.Logf("%d target windows at their longest: %d bytes", len(big), len(b))
}
