package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/ingest"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/policy"
)

// silenceRulesYAML restarts a Deployment and silences the alert while the
// rollout is verified. This cluster runs no controllers: the rollout
// converges when the test writes the Deployment's status, so the record
// stays Verifying until then (well within the timeout).
const silenceRulesYAML = `rules:
  - name: restart-silenced
    match: ['alertname="PaymentsLatencyHigh"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    verify: {timeout: 10m}
    silence: true
`

// amSilence is a silence as Alertmanager's v2 API returns it.
type amSilence struct {
	ID       string `json:"id"`
	Matchers []struct {
		Name    string `json:"name"`
		Value   string `json:"value"`
		IsRegex bool   `json:"isRegex"`
		IsEqual *bool  `json:"isEqual"`
	} `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
	Status    struct {
		State string `json:"state"`
	} `json:"status"`
}

// recordsIn returns the records in ns of alerts named alertname.
func recordsIn(t *testing.T, ns, alertname string) []v1alpha1.Remediation {
	t.Helper()
	var list v1alpha1.RemediationList
	if err := cluster.Records.List(t.Context(), &list, kube.InNamespace(ns)); err != nil {
		t.Fatalf("list Remediations: %v", err)
	}
	var out []v1alpha1.Remediation
	for _, r := range list.Items {
		if r.Spec.Alert.Name == alertname {
			out = append(out, r)
		}
	}
	return out
}

func toLabelSet(m map[string]string) model.LabelSet {
	ls := model.LabelSet{}
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

func amSilences(t *testing.T, amURL string) map[string]amSilence {
	t.Helper()
	code, body := httpGet(t.Context(), amURL+"/api/v2/silences")
	if code != http.StatusOK {
		t.Fatalf("GET %s/api/v2/silences = %d %s", amURL, code, body)
	}
	var list []amSilence
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("GET /api/v2/silences: %v in %s", err, body)
	}
	out := map[string]amSilence{}
	for _, s := range list {
		out[s.ID] = s
	}
	return out
}

// postSilence creates a silence in Alertmanager, as a replica that stopped
// before expiring it would have left it, and returns its id.
func postSilence(t *testing.T, amURL, createdBy, comment string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"matchers":  []map[string]any{{"name": "alertname", "value": "Leftover", "isRegex": false, "isEqual": true}},
		"startsAt":  time.Now().UTC(),
		"endsAt":    time.Now().Add(time.Hour).UTC(),
		"createdBy": createdBy,
		"comment":   comment,
	})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, amURL+"/api/v2/silences", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ok struct {
		SilenceID string `json:"silenceID"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ok); err != nil || resp.StatusCode != http.StatusOK || ok.SilenceID == "" {
		t.Fatalf("POST /api/v2/silences = %s, %v", resp.Status, err)
	}
	return ok.SilenceID
}

// A rule with silence: true silences its alert in a real Alertmanager while
// the record is Verifying: the silence is active in Alertmanager's API,
// on the alert's labels exactly, made by alertmedic, naming the record, and
// ending no later than the verification's deadline. When the record ends,
// the silence is expired. Silences a stopped replica left behind, for a
// record that ended or is gone, are expired by the next replica to lead;
// a silence that is not alertmedic's is left alone.
func TestSilenceWhileVerifying(t *testing.T) {
	const (
		recNS = "alertmedic-silence"
		appNS = "payments"
	)
	ctx := t.Context()
	createNamespace(t, recNS)
	createNamespace(t, appNS)
	createDeployment(t, appNS, "api")
	p := startPair(t, recNS, silenceRulesYAML, nil)
	medic, am, amURL, procs := p.medic, p.am, p.amURL, p.procs()

	// 1. The alert is remediated; while its rollout is verified, it is
	// silenced.
	labels := map[string]string{"alertname": "PaymentsLatencyHigh", "namespace": appNS, "deployment": "api", "severity": "page"}
	postAlerts(t, amURL, postableAlert{
		Labels: labels, Annotations: map[string]string{"summary": "api is slow"},
		StartsAt: time.Now().Add(-time.Minute).UTC(), EndsAt: time.Now().Add(30 * time.Minute),
		GeneratorURL: "http://prometheus.example:9090/graph?g0.expr=latency",
	})
	var rec v1alpha1.Remediation
	waitFor(t, "a Verifying record with its silence recorded", 30*time.Second, procs, func() (bool, string) {
		recs := recordsIn(t, recNS, "PaymentsLatencyHigh")
		if len(recs) != 1 {
			return false, describe(recs)
		}
		rec = recs[0]
		return rec.Status.Phase == v1alpha1.PhaseVerifying && rec.Status.Silence != nil && rec.Status.Silence.ID != "",
			fmt.Sprintf("%s, silence %+v", describe(recs), rec.Status.Silence)
	})
	id := rec.Status.Silence.ID
	sil, ok := amSilences(t, amURL)[id]
	if !ok {
		t.Fatalf("silence %s of record %s is not in Alertmanager's API", id, rec.Name)
	}
	matchers := map[string]string{}
	for _, m := range sil.Matchers {
		if m.IsRegex || m.IsEqual != nil && !*m.IsEqual {
			t.Errorf("matcher %s: regex %v, equal %v; want equality", m.Name, m.IsRegex, m.IsEqual)
		}
		matchers[m.Name] = m.Value
	}
	if !reflect.DeepEqual(matchers, labels) {
		t.Errorf("silence matchers %v, want the alert's labels %v", matchers, labels)
	}
	deadline := rec.Status.Verification.Rollout.Deadline.Time
	if sil.Status.State != "active" || sil.CreatedBy != "alertmedic" || !strings.Contains(sil.Comment, recNS+"/"+rec.Name) ||
		!strings.Contains(sil.Comment, "http://prometheus.example:9090/graph?g0.expr=latency") {
		t.Errorf("silence %s: state %q, createdBy %q, comment %q; want active, by alertmedic, naming %s/%s and the alert's link",
			id, sil.Status.State, sil.CreatedBy, sil.Comment, recNS, rec.Name)
	}
	if sil.EndsAt.After(deadline) {
		t.Errorf("silence ends %s, after the verification's deadline %s", sil.EndsAt, deadline)
	}
	t.Logf("silence %s active until %s (deadline %s): %s", id, sil.EndsAt, deadline, sil.Comment)

	// 1b. A create whose answer was lost: the silence for a record is in
	// Alertmanager already (made by an earlier create) when the record
	// is Verifying. It is found by its tag and recorded, not made twice.
	createDeployment(t, appNS, "api2")
	labels2 := map[string]string{"alertname": "PaymentsLatencyHigh", "namespace": appNS, "deployment": "api2", "severity": "page"}
	starts2 := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	name2 := ingest.RecordName(policy.EpisodeKey("restart-silenced", "Deployment/"+appNS+"/api2",
		toLabelSet(labels2).Fingerprint().String(), starts2))
	landed := postSilence(t, amURL, "alertmedic", fmt.Sprintf("alertmedic: restart of Deployment/payments/api2 is being verified [alertmedic.io/remediation=%s/%s]", recNS, name2))
	postAlerts(t, amURL, postableAlert{Labels: labels2, StartsAt: starts2, EndsAt: time.Now().Add(30 * time.Minute)})
	waitFor(t, "the second record Verifying with the silence that was there", 30*time.Second, procs, func() (bool, string) {
		var r v1alpha1.Remediation
		if err := cluster.Records.Get(ctx, kube.ObjectKey{Namespace: recNS, Name: name2}, &r); err != nil {
			return false, err.Error()
		}
		return r.Status.Phase == v1alpha1.PhaseVerifying && r.Status.Silence != nil && r.Status.Silence.ID != "",
			fmt.Sprintf("%s %s, silence %+v", r.Name, r.Status.Phase, r.Status.Silence)
	})
	var rec2 v1alpha1.Remediation
	if err := cluster.Records.Get(ctx, kube.ObjectKey{Namespace: recNS, Name: name2}, &rec2); err != nil {
		t.Fatal(err)
	}
	if rec2.Status.Silence.ID != landed {
		t.Errorf("record %s holds silence %s, want the one already in Alertmanager, %s", name2, rec2.Status.Silence.ID, landed)
	}
	n := 0
	for _, s := range amSilences(t, amURL) {
		if s.CreatedBy == "alertmedic" && strings.Contains(s.Comment, "/"+name2+"]") && s.Status.State == "active" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d active silences of alertmedic for %s, want 1", n, name2)
	}

	// 2. The rollout converges (this cluster has no controllers: the test
	// writes what the Deployment controller would), the record ends
	// Succeeded, and the silence is expired at once.
	d := deployment(t, appNS, "api")
	d.Status.ObservedGeneration = d.Generation
	d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = 2, 2, 2, 2
	if _, err := cluster.Client.AppsV1().Deployments(appNS).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the record Succeeded and its silence expired in Alertmanager", 30*time.Second, procs, func() (bool, string) {
		var r v1alpha1.Remediation
		if err := cluster.Records.Get(ctx, kube.ObjectKeyFromObject(&rec), &r); err != nil {
			return false, err.Error()
		}
		s := amSilences(t, amURL)[id]
		return r.Status.Phase == v1alpha1.PhaseSucceeded && s.Status.State == "expired" &&
				r.Status.Silence != nil && r.Status.Silence.ExpiredAt != nil,
			fmt.Sprintf("%s; silence %s %s", describe([]v1alpha1.Remediation{r}), id, s.Status.State)
	})

	// 3. A replica that stopped before expiring left silences behind: one
	// for this record (now ended), one for a record that is gone. The next
	// leader expires both; a silence someone else made stays.
	if err := medic.terminate(30 * time.Second); err != nil {
		t.Fatalf("alertmedic on SIGTERM: %v", err)
	}
	tag := func(name string) string {
		return fmt.Sprintf("alertmedic: restart of Deployment/payments/api is being verified [alertmedic.io/remediation=%s/%s]", recNS, name)
	}
	// The record that ended holds its own silence; a record that ended
	// without one recorded (Failed while its create's answer was lost) is
	// made by hand.
	failed := &v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Namespace: recNS, Name: rec.Name + "-failed"}, Spec: rec.Spec}
	if err := cluster.Records.Create(ctx, failed); err != nil {
		t.Fatal(err)
	}
	failed.Status = v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseFailed, Reason: "Interrupted"}
	if err := cluster.Records.Status().Update(ctx, failed); err != nil {
		t.Fatal(err)
	}
	ended := postSilence(t, amURL, "alertmedic", tag(rec.Name))
	endedLost := postSilence(t, amURL, "alertmedic", tag(failed.Name))
	gone := postSilence(t, amURL, "alertmedic", tag("restart-silenced-gone"))
	theirs := postSilence(t, amURL, "oncall@example.com", tag(rec.Name))
	p.startMedic("--silence-sweep-interval", "1s")
	medic, procs = p.medic, p.procs()
	waitFor(t, "the new leader to expire the silences left behind", 30*time.Second, procs, func() (bool, string) {
		all := amSilences(t, amURL)
		return all[ended].Status.State == "expired" && all[endedLost].Status.State == "expired" && all[gone].Status.State == "expired",
			fmt.Sprintf("record ended: %s, record ended without it: %s, record gone: %s, someone else's: %s",
				all[ended].Status.State, all[endedLost].Status.State, all[gone].Status.State, all[theirs].Status.State)
	})
	if s := amSilences(t, amURL)[theirs]; s.Status.State != "active" {
		t.Errorf("a silence alertmedic did not make is %s, want active", s.Status.State)
	}
	// 4. While it leads, the leader keeps looking (--silence-sweep-interval):
	// a silence left behind later is expired without a restart, and the
	// silence of the record still Verifying is kept.
	later := postSilence(t, amURL, "alertmedic", tag("restart-silenced-deleted-later"))
	waitFor(t, "the leader to expire a silence left behind while it leads", 30*time.Second, procs, func() (bool, string) {
		s := amSilences(t, amURL)[later]
		return s.Status.State == "expired", s.Status.State
	})
	if s := amSilences(t, amURL)[landed]; s.Status.State != "active" {
		t.Errorf("the silence of the record still Verifying is %s, want active", s.Status.State)
	}
	if err := am.terminate(20 * time.Second); err != nil {
		t.Errorf("Alertmanager on SIGTERM: %v", err)
	}
	if err := medic.terminate(30 * time.Second); err != nil {
		t.Errorf("alertmedic on SIGTERM: %v, want exit status 0", err)
	}
	var all v1alpha1.RemediationList
	if err := cluster.Records.List(ctx, &all, kube.InNamespace(recNS)); err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 3 {
		t.Errorf("%s at the end, want the three", describe(all.Items))
	}
}
