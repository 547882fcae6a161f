{{/* Names and labels shared by the templates. */}}

{{- define "gigachat-adapter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resource name: the release name, or release-chart when they differ. */}}
{{- define "gigachat-adapter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gigachat-adapter.chartLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gigachat-adapter.labels" -}}
{{ include "gigachat-adapter.chartLabels" . }}
{{ include "gigachat-adapter.selectorLabels" . }}
{{- end }}

{{- define "gigachat-adapter.redisLabels" -}}
{{ include "gigachat-adapter.chartLabels" . }}
{{ include "gigachat-adapter.redisSelectorLabels" . }}
{{- end }}

{{- define "gigachat-adapter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gigachat-adapter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: adapter
{{- end }}

{{- define "gigachat-adapter.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "gigachat-adapter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{/* The Secret holding GIGACHAT_CREDENTIALS, BEARER_TOKEN, ... (the user's or the chart's). */}}
{{- define "gigachat-adapter.secretName" -}}
{{- default (include "gigachat-adapter.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "gigachat-adapter.keysSecretName" -}}
{{- default (printf "%s-keys" (include "gigachat-adapter.fullname" .)) .Values.keysFile.existingSecret }}
{{- end }}

{{/* Whether the chart renders its own Secret of settings. */}}
{{- define "gigachat-adapter.renderSecret" -}}
{{- if and (not .Values.secrets.existingSecret) (or .Values.secrets.gigachatCredentials .Values.secrets.bearerToken .Values.secrets.adminToken .Values.secrets.extra .Values.redis.url) }}true{{ end }}
{{- end }}
