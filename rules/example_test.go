package rules_test

import (
	"errors"
	"fmt"

	"github.com/alertmedic/alertmedic/rules"
	"github.com/prometheus/alertmanager/template"
)

func ExampleSet_Match() {
	set, err := rules.Parse("rules.yaml", []byte(`
rules:
  - name: restart-crashlooping
    match: ['alertname="KubePodCrashLooping"', 'namespace=~"shop|payments"']
    target:
      kind: Deployment
      namespace: '{{ .Labels.namespace }}'
      name: '{{ .Labels.deployment }}'
    action: restart
    cooldown: 30m
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	alert := &template.Alert{Status: "firing", Labels: template.KV{
		"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "cart",
	}}
	for _, m := range set.Match(alert) {
		if m.Err != nil {
			fmt.Println("no action:", m.Err)
			continue
		}
		fmt.Println(m.Rule.Name, m.Rule.Action, m.Target, m.Rule.Cooldown)
	}
	// Output: restart-crashlooping restart Deployment/shop/cart 30m0s
}

func ExampleParse_problems() {
	_, err := rules.Parse("rules.yaml", []byte(`
rules:
  - name: scale-up
    matchers: ['alertname="LatencyHigh"']
    target: {kind: Deployment, namespace: shop, name: cart}
    action: scale
    scale: {replicas: "+2", min: 5, max: 3}
`))
	var le *rules.LoadError
	if errors.As(err, &le) {
		for _, p := range le.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// rules.yaml:4:5: unknown field "matchers" in rule "scale-up" (did you mean "match"?)
	// rules.yaml:7:42: scale.max (3) is below scale.min (5) in rule "scale-up"; raise scale.max or lower scale.min
}
