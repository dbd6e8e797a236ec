package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/ingest"
)

// etcdPrefix is where kube-apiserver keeps alertmedic's records in etcd
// (its default --etcd-prefix, then group, resource, namespace, name).
const etcdPrefix = "/registry/" + "alertmedic.io/remediations/"

// putRecords writes records from..to-1 into namespace ns straight into
// etcd, through its JSON gateway (/v3/kv/txn), 100 to a transaction: a
// copy of the template each, finished, with a name, a UID and a label of
// its own. Through the API server each record costs a create and a status
// update, some 5 ms of its CPU each on this machine; 50,000 of them took
// longer than the whole bench may. The API server's watch of etcd sees
// them as any other write.
// retainedName is the name of the i-th retained record: a name as
// alertmedic gives its records (ingest.RecordName), which the leader's
// index of archived records holds compactly.
func retainedName(i int) string { return ingest.RecordName(fmt.Sprintf("retained|%d", i)) }

func putRecords(ctx context.Context, etcd *url.URL, tmpl *v1alpha1.Remediation, ns string, from, to int) error {
	type put struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	type op struct {
		RequestPut put `json:"requestPut"`
	}
	for start := from; start < to; start += 100 {
		var ops []op
		for i := start; i < min(start+100, to); i++ {
			r := v1alpha1.Remediation{
				TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Remediation"},
				ObjectMeta: metav1.ObjectMeta{
					Name: retainedName(i), Namespace: ns, UID: uuid.NewUUID(), Generation: 1,
					CreationTimestamp: tmpl.CreationTimestamp, Labels: map[string]string{retainedLabel: "true"},
					Annotations: tmpl.Annotations,
				},
				Spec:   tmpl.Spec,
				Status: tmpl.Status,
			}
			for k, v := range tmpl.Labels {
				r.Labels[k] = v
			}
			value, err := json.Marshal(&r)
			if err != nil {
				return err
			}
			ops = append(ops, op{put{
				Key:   base64.StdEncoding.EncodeToString([]byte(etcdPrefix + ns + "/" + r.Name)),
				Value: base64.StdEncoding.EncodeToString(value),
			}})
		}
		body, err := json.Marshal(map[string]any{"success": ops})
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(etcd.String(), "/")+"/v3/kv/txn", bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("etcd txn: %w", err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd txn answered %s: %s", resp.Status, answer)
		}
	}
	return nil
}
