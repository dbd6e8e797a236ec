package silences

import (
	"context"
	"fmt"
	"strconv"

	"github.com/prometheus/alertmanager/api/v2/client/alert"
)

// Firing reports whether Alertmanager holds the alert with fingerprint fp
// (whose labels are labels) as firing: active, silenced, inhibited or not
// yet processed. Alertmanager's API leaves out an alert once it resolved
// (its endsAt passed), and also one it never received or forgot (an
// Alertmanager restarted keeps no alerts until Prometheus sends them
// again), so false means "resolved, or not known here".
func (c *Client) Firing(ctx context.Context, fp string, labels map[string]string) (bool, error) {
	filter := make([]string, 0, len(labels))
	for _, name := range sortedKeys(labels) {
		filter = append(filter, name+"="+strconv.Quote(labels[name]))
	}
	yes := true
	p := alert.NewGetAlertsParamsWithContext(ctx).WithFilter(filter).
		WithActive(&yes).WithSilenced(&yes).WithInhibited(&yes).WithUnprocessed(&yes)
	ok, err := c.api.Alert.GetAlerts(p)
	if err != nil {
		return false, fmt.Errorf("list the alerts of %s: %w", c.url, err)
	}
	for _, a := range ok.Payload {
		if a != nil && a.Fingerprint != nil && *a.Fingerprint == fp {
			return true, nil
		}
	}
	return false, nil
}
