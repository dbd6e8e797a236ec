package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/server"
)

// decideOptions are the flags and argument of approve, deny and pending
// (defined in flags.go).
type decideOptions struct {
	namespace  string
	kubeconfig string
	name       string // of approve and deny
}

// recordsClient is a client for the records with the caller's kubeconfig,
// and the caller's user name as the API server knows it.
func recordsClient(ctx context.Context, kubeconfigPath string) (kube.Client, string, error) {
	cfg, err := server.KubeConfig(kubeconfigPath, version)
	if err != nil {
		return nil, "", err
	}
	c, err := newRecordsClient(cfg)
	if err != nil {
		return nil, "", err
	}
	review, err := kube.Create(ctx, c, "", &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("who am I (SelfSubjectReview): %w", err)
	}
	return c, review.Status.UserInfo.Username, nil
}

// recordsReader is a client for the records with the caller's kubeconfig,
// for commands that only read them.
func recordsReader(kubeconfigPath string) (kube.Client, error) {
	cfg, err := server.KubeConfig(kubeconfigPath, version)
	if err != nil {
		return nil, err
	}
	return newRecordsClient(cfg)
}

func newRecordsClient(cfg *rest.Config) (kube.Client, error) {
	c, err := kube.New(cfg, kube.Options{})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return c, nil
}

// decideCmd is 'alertmedic approve NAME' and 'alertmedic deny NAME': who may
// is whoever Kubernetes RBAC lets update remediations/status.
func decideCmd(ctx context.Context, c *commandLine, approve bool, stdout io.Writer) error {
	cmd := "deny"
	if approve {
		cmd = "approve"
	}
	o, name := &c.decide, c.decide.name
	switch {
	case name == "":
		return usagef("%s: name the remediation (see 'alertmedic pending')", cmd)
	case len(c.extra) > 0:
		return usagef("%s: unexpected argument %q", cmd, c.extra[0])
	}
	records, who, err := recordsClient(ctx, o.kubeconfig)
	if err != nil {
		return err
	}
	rec, err := approval.Decide(ctx, records, kube.ObjectKey{Namespace: o.namespace, Name: name}, approve, "kubernetes:"+who, time.Now())
	var decided *approval.DecidedError
	if errors.As(err, &decided) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", cmd, name, err)
	}
	fmt.Fprintf(stdout, "%s %s: %s %s on %s (rule %s, alert %s)\n", verbPast(approve), rec.Name, rec.Spec.Action,
		describeParams(rec), rec.Spec.TargetRef, rec.Spec.Rule, rec.Spec.Alert.Name)
	return nil
}

func verbPast(approve bool) string {
	if approve {
		return "approved"
	}
	return "denied"
}

func describeParams(rec *v1alpha1.Remediation) string {
	switch {
	case rec.Spec.Scale != nil:
		s := rec.Spec.Scale
		return fmt.Sprintf("(%s %d%s, min %d, max %d)", s.Op, s.N, s.Factor, s.Min, s.Max)
	case rec.Spec.Rollback != nil && rec.Spec.Rollback.ToRevision > 0:
		return fmt.Sprintf("(to revision %d)", rec.Spec.Rollback.ToRevision)
	}
	return ""
}

// pendingCmd lists the records waiting for approval.
func pendingCmd(ctx context.Context, c *commandLine, stdout io.Writer) error {
	o := &c.decide
	if err := noArgs("pending", c.extra); err != nil {
		return err
	}
	records, _, err := recordsClient(ctx, o.kubeconfig)
	if err != nil {
		return err
	}
	var list v1alpha1.RemediationList
	if err := records.List(ctx, &list, kube.InNamespace(o.namespace)); err != nil {
		return fmt.Errorf("list remediations in %s: %w", o.namespace, err)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tRULE\tACTION\tTARGET\tALERT\tWHY\tEXPIRES")
	n := 0
	for _, r := range list.Items {
		if r.Status.Phase != v1alpha1.PhasePendingApproval {
			continue
		}
		n++
		expires := "-"
		if t := r.Status.ApprovalExpiresAt; t != nil {
			expires = "in " + time.Until(t.Time).Round(time.Second).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Spec.Rule, r.Spec.Action, r.Spec.TargetRef, r.Spec.Alert.Name, r.Status.Reason, expires)
	}
	if n == 0 {
		fmt.Fprintf(stdout, "no remediation is waiting for approval in namespace %s\n", o.namespace)
		return nil
	}
	return w.Flush()
}
