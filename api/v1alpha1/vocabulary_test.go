package v1alpha1

import (
	"strings"
	"testing"
)

func TestFactorFailsClosed(t *testing.T) {
	for _, f := range []Factor{"", "abc", "0", "0.0", "-2", "NaN", "Inf", "+Inf", "1e400"} {
		if v, err := f.Float64(); err == nil || v != 0 {
			t.Errorf("Factor(%q).Float64() = %v, %v; want 0 and an error", f, v, err)
		} else if !strings.Contains(err.Error(), "want a number greater than 0") {
			t.Errorf("Factor(%q).Float64() error = %q, want it to say what is wanted", f, err)
		}
	}
	if v, err := Factor("1.5").Float64(); err != nil || v != 1.5 {
		t.Errorf(`Factor("1.5").Float64() = %v, %v`, v, err)
	}
	if f := FactorOf(1.5); f != "1.5" {
		t.Errorf("FactorOf(1.5) = %q", f)
	}
}

func TestValidateAction(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action Action
		scale  *ScaleParams
		rb     *RollbackParams
		ev     *EvictParams
		want   string // "" for valid
	}{
		{"restart", ActionRestart, nil, nil, nil, ""},
		{"unknown action", "delete", nil, nil, nil, `action "delete": want restart, scale, rollback, evict-pod or run-job`},
		{"scale without parameters", ActionScale, nil, nil, nil, "scale without parameters: want op to, by or multiply"},
		{"scale to", ActionScale, &ScaleParams{Op: ScaleTo, N: 3}, nil, nil, ""},
		{"scale to negative", ActionScale, &ScaleParams{Op: ScaleTo, N: -1}, nil, nil, "scale to -1: want a replica count of 0 or more"},
		{"scale by negative", ActionScale, &ScaleParams{Op: ScaleBy, N: -1, Min: 1}, nil, nil, ""},
		{"unknown op", ActionScale, &ScaleParams{Op: "double"}, nil, nil, `scale op "double": want to, by or multiply`},
		{"factor 0", ActionScale, &ScaleParams{Op: ScaleMultiply, Factor: "0"}, nil, nil, `scale factor "0": want a number greater than 0, such as 1.5`},
		{"factor 1.5", ActionScale, &ScaleParams{Op: ScaleMultiply, Factor: "1.5", Max: 10}, nil, nil, ""},
		{"min above max", ActionScale, &ScaleParams{Op: ScaleTo, N: 3, Min: 5, Max: 2}, nil, nil, "scale bounds min 5, max 2: want 0 <= min <= max (max 0: none)"},
		{"negative min", ActionScale, &ScaleParams{Op: ScaleBy, N: 1, Min: -1}, nil, nil, "scale bounds min -1, max 0: want 0 <= min <= max (max 0: none)"},
		{"rollback previous", ActionRollback, nil, nil, nil, ""},
		{"rollback to 3", ActionRollback, nil, &RollbackParams{ToRevision: 3}, nil, ""},
		{"rollback negative", ActionRollback, nil, &RollbackParams{ToRevision: -1}, nil, "rollback toRevision -1: want 0 (the previous revision) or a revision number"},
		{"evict defaults", ActionEvictPod, nil, nil, nil, ""},
		{"evict minAvailable", ActionEvictPod, nil, nil, &EvictParams{MinAvailable: 2}, ""},
		{"evict negative minAvailable", ActionEvictPod, nil, nil, &EvictParams{MinAvailable: -1}, "evict minAvailable -1: want 0 (no guard) or more"},
		{"run-job", ActionRunJob, nil, nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateAction(tc.action, Params{Scale: tc.scale, Rollback: tc.rb, Evict: tc.ev})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("ValidateAction = %v, want nil", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("ValidateAction = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestKindValidate(t *testing.T) {
	for _, k := range Kinds() {
		if err := k.Validate(); err != nil {
			t.Errorf("%s.Validate() = %v", k, err)
		}
	}
	if err := Kind("Job").Validate(); err == nil {
		t.Error(`Kind("Job").Validate() = nil, want an error`)
	}
}

func TestActionValidateKind(t *testing.T) {
	for _, tc := range []struct {
		action Action
		kind   Kind
		want   string
	}{
		{ActionRestart, KindDeployment, ""},
		{ActionEvictPod, KindPod, ""},
		{ActionRunJob, KindCronJob, ""},
		{ActionRestart, KindPod, "action restart does not act on a Pod: want a target of kind Deployment, StatefulSet or DaemonSet"},
		{ActionEvictPod, KindDeployment, "action evict-pod does not act on a Deployment: want a target of kind Pod"},
		{ActionRunJob, KindPod, "action run-job does not act on a Pod: want a target of kind CronJob"},
	} {
		err := tc.action.ValidateKind(tc.kind)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || err.Error() != tc.want) {
			t.Errorf("%s.ValidateKind(%s) = %v, want %q", tc.action, tc.kind, err, tc.want)
		}
	}
}

func TestScaleReplicas(t *testing.T) {
	for p, want := range map[ScaleParams]string{
		{Op: ScaleTo, N: 4}:                "4",
		{Op: ScaleBy, N: 2}:                "+2",
		{Op: ScaleBy, N: -1}:               "-1",
		{Op: ScaleMultiply, Factor: "2"}:   "x2",
		{Op: ScaleMultiply, Factor: "1.5"}: "x1.5",
	} {
		if got := p.Replicas(); got != want {
			t.Errorf("%+v.Replicas() = %q, want %q", p, got, want)
		}
	}
}
