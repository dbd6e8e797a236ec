// Package ruletest owns the rule unit test format that alertmedic test
// runs: a YAML file names rule files and lists alerts with the
// remediations expected for each, in the spirit of 'promtool test rules'.
// Like rule files, test files are parsed strictly and every problem is
// reported with its position.
//
//	ruleFiles: [../crashloop.yaml]
//	tests:
//	  - name: a crash-looping shop pod restarts its Deployment
//	    alert:
//	      labels: {alertname: KubePodCrashLooping, namespace: shop, deployment: cart}
//	    expect:
//	      - rule: restart-crashlooping
//	        action: restart
//	        target: {kind: Deployment, namespace: shop, name: cart}
//
// A test may instead give notifications over time, each with the decision
// expected for every remediation: whether it runs, or why not (a re-sent
// episode, an approval to wait for, or what policy refuses: cooldowns,
// budgets, the circuit breaker, namespaces). Policy decides with the
// policy package, as the executing replica does, under the deployment's
// limits (alertmedic test's flags, the file's policy and the test's).
//
//	tests:
//	  - name: a second OOM kill within the cooldown does not restart again
//	    policy: {defaultCooldown: 30m}
//	    notifications:
//	      - at: 0m
//	        alert: {labels: {alertname: OOMKilled, namespace: shop, deployment: cart}}
//	        expect:
//	          - {rule: restart-oom, action: restart, target: {kind: Deployment, namespace: shop, name: cart}, decision: Run}
//	      - at: 5m
//	        alert: {labels: {alertname: OOMKilled, namespace: shop, deployment: cart}, status: resolved}
//	        expect: []
//	      - at: 10m
//	        alert: {labels: {alertname: OOMKilled, namespace: shop, deployment: cart}}
//	        expect:
//	          - {rule: restart-oom, action: restart, target: {kind: Deployment, namespace: shop, name: cart}, decision: Cooldown}
//
// Test files are decoded with the rule files' decoder (rules.Decoder) and
// run against a compiled rules.Set.
package ruletest
