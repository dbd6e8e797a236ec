package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/common/model"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/report"
)

// reportOptions are the flags of 'alertmedic report' (defined in flags.go).
type reportOptions struct {
	namespace  string
	kubeconfig string
	since      model.Duration
	format     string
}

const reportHelp = `Summarise what each rule did: episodes matched, acted, skipped by reason, approved, denied, expired, verified, failed, and how long alert to action and action to verified or resolved took.

Reads the Remediation records created within --since of now. Times are the median and 90th percentile by nearest rank (values that were observed), with the number of samples. Records are kept 8 days after their alert resolved by default (serve's --retention), so a week's report works with the default settings; a longer window sees only what retention kept. --format markdown is a table to paste into a review.`

// reportCmd prints the report of the records in the namespace.
func reportCmd(ctx context.Context, c *commandLine, stdout io.Writer) error {
	o := &c.report
	if err := noArgs("report", c.extra); err != nil {
		return err
	}
	if o.since <= 0 {
		return usagef("report: --since must be above 0, got %s", o.since)
	}
	records, err := recordsReader(o.kubeconfig)
	if err != nil {
		return err
	}
	var list v1alpha1.RemediationList
	if err := records.List(ctx, &list, kube.InNamespace(o.namespace)); err != nil {
		return fmt.Errorf("list remediations in %s: %w", o.namespace, err)
	}
	rep := report.Build(list.Items, time.Duration(o.since), time.Now())
	return report.Write(stdout, rep, o.format, o.namespace)
}
