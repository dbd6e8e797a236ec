package silences

import "testing"

func TestSilenceComment(t *testing.T) {
	c := Comment("alertmedic/restart-cart-1a2b", "restart", "Deployment/shop/cart", "http://prometheus:9090/graph?g0.expr=up")
	want := "alertmedic: restart of Deployment/shop/cart is being verified; kubectl -n alertmedic get remediation restart-cart-1a2b; alert: http://prometheus:9090/graph?g0.expr=up [alertmedic.io/remediation=alertmedic/restart-cart-1a2b]"
	if c != want {
		t.Errorf("Comment = %q, want %q", c, want)
	}
	if rec, ok := RecordOf(c); !ok || rec != "alertmedic/restart-cart-1a2b" {
		t.Errorf("RecordOf = %q, %v", rec, ok)
	}
	if rec, ok := RecordOf("maintenance by hand, alertmedic/restart-cart-1a2b"); ok {
		t.Errorf("RecordOf a comment without the tag = %q, want none", rec)
	}
}
