{{/*
Names are fixed, as in manifests/: the admission policy knows alertmedic by
its ServiceAccount "alertmedic", and the install guide, the alerts and
`alertmedic approve` use the same names. One release per cluster.
*/}}

{{/* The pods' labels; the Deployment, Service, PDB and NetworkPolicies select by them. */}}
{{- define "alertmedic.selectorLabels" -}}
app.kubernetes.io/name: alertmedic
app.kubernetes.io/component: server
{{- end }}

{{- define "alertmedic.labels" -}}
app.kubernetes.io/name: alertmedic
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "alertmedic.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{- define "alertmedic.webhookSecret" -}}
{{ .Values.webhook.existingSecret | default "alertmedic-webhook" }}
{{- end }}

{{- define "alertmedic.url" -}}
http://alertmedic.{{ .Release.Namespace }}.svc:8080/webhook
{{- end }}
