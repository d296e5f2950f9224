{{/* The release's name for every object: the release name, with "-berth" unless it already says berth. */}}
{{- define "berth.fullname" -}}
{{- if contains "berth" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-berth" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: berth
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "berth.labels" -}}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Which Secret holds each group's keys: the operator's, or the chart's own (secret.yaml, from inline values). */}}
{{- define "berth.slackSecret" -}}
{{- default (include "berth.fullname" .) .Values.slack.existingSecret -}}
{{- end -}}
{{- define "berth.databaseSecret" -}}
{{- default (include "berth.fullname" .) .Values.database.existingSecret -}}
{{- end -}}
{{- define "berth.auditSecret" -}}
{{- default (include "berth.fullname" .) .Values.audit.existingSecret -}}
{{- end -}}
{{- define "berth.keysSecret" -}}
{{- default (include "berth.fullname" .) .Values.keys.existingSecret -}}
{{- end -}}

{{/* The chart's Secret's keys: each inline value whose group has no existing Secret. Empty: no chart Secret. */}}
{{- define "berth.inlineSecrets" -}}
{{- if not .Values.slack.existingSecret }}
{{- with .Values.slack.botToken }}
SLACK_BOT_TOKEN: {{ . | quote }}
{{- end }}
{{- with .Values.slack.appToken }}
SLACK_APP_TOKEN: {{ . | quote }}
{{- end }}
{{- with .Values.slack.signingSecret }}
SLACK_SIGNING_SECRET: {{ . | quote }}
{{- end }}
{{- end }}
{{- if and (not .Values.database.existingSecret) .Values.database.url }}
{{ .Values.database.secretKey }}: {{ .Values.database.url | quote }}
{{- end }}
{{- if and (not .Values.audit.existingSecret) .Values.audit.key }}
BERTH_AUDIT_KEY: {{ .Values.audit.key | quote }}
{{- end }}
{{- if not .Values.keys.existingSecret }}
{{- with .Values.keys.secretKey }}
BERTH_SECRET_KEY: {{ . | quote }}
{{- end }}
{{- with .Values.keys.metricsToken }}
BERTH_METRICS_TOKEN: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Refuse a release berth could not run as: fail at `helm template`/`helm install`, not in a crash loop. */}}
{{- define "berth.validate" -}}
{{- if not (has .Values.slack.mode (list "socket" "http")) -}}
{{- fail (printf "slack.mode is %q: set it to socket (berth connects out) or http (Slack posts to /slack/events)." .Values.slack.mode) -}}
{{- end -}}
{{- if and (not .Values.database.existingSecret) (not .Values.database.url) -}}
{{- fail "Set database.existingSecret (a Secret with BERTH_DATABASE_URL) or database.url: the replicas share berth's state through PostgreSQL. One berth on SQLite: manifests/kubernetes/sqlite." -}}
{{- end -}}
{{- if and (not .Values.audit.existingSecret) (not .Values.audit.key) -}}
{{- fail "Set audit.existingSecret (a Secret with BERTH_AUDIT_KEY) or audit.key: every replica signs the shared audit log with the same key." -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.keys.existingSecret) (not .Values.keys.metricsToken) -}}
{{- fail "serviceMonitor.enabled needs keys.metricsToken or keys.existingSecret with BERTH_METRICS_TOKEN: berth serves /metrics only with a bearer token." -}}
{{- end -}}
{{- if and (contains "/etc/berth/docker-tls/" .Values.hosts) (not .Values.dockerTls.existingSecret) -}}
{{- fail "hosts names certificates under /etc/berth/docker-tls: set dockerTls.existingSecret to the Secret with ca.pem, cert.pem and key.pem." -}}
{{- end -}}
{{- if and (not .Values.slack.existingSecret) (not .Values.slack.botToken) -}}
{{- fail "Set slack.existingSecret or slack.botToken (xoxb-…)." -}}
{{- end -}}
{{- end -}}
