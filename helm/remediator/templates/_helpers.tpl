{{/* Names, labels and the pieces several templates share. */}}

{{- define "remediator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "remediator.fullname" -}}
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

{{- define "remediator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "remediator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "remediator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "remediator.labels" -}}
helm.sh/chart: {{ include "remediator.chart" . }}
{{ include "remediator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: remediator
{{- end }}

{{- define "remediator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "remediator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "remediator.secretName" -}}
{{- default (include "remediator.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "remediator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The namespaces remediator acts in when rbac.scope=namespaced. */}}
{{- define "remediator.rbacNamespaces" -}}
{{- if .Values.rbac.namespaces }}
{{- toJson (uniq .Values.rbac.namespaces) }}
{{- else }}
{{- toJson (list .Release.Namespace) }}
{{- end }}
{{- end }}

{{/* Paths inside the container; the Dockerfile and docs/deploy.md use the same ones. */}}
{{- define "remediator.configDir" -}}/etc/remediator/config{{- end }}
{{- define "remediator.rulesDir" -}}/etc/remediator/rules{{- end }}
{{- define "remediator.builtinRulesDir" -}}/app/rules{{- end }}
{{- define "remediator.journalDir" -}}/var/lib/remediator{{- end }}

{{/* The shared PostgreSQL journal is configured: several replicas may run. */}}
{{- define "remediator.sharedJournal" -}}
{{- if .Values.postgresql.url }}true{{- end }}
{{- end }}

{{/* Custom rules are mounted when given inline or as an existing ConfigMap. */}}
{{- define "remediator.hasCustomRules" -}}
{{- if or .Values.rules.files .Values.rules.existingConfigMap }}true{{- end }}
{{- end }}

{{- define "remediator.rulesConfigMapName" -}}
{{- default (printf "%s-rules" (include "remediator.fullname" .)) .Values.rules.existingConfigMap }}
{{- end }}

{{/*
remediator.yaml: the user's `config` with the settings the chart owns laid over it.
*/}}
{{- define "remediator.config" -}}
{{- $cfg := deepCopy (default dict .Values.config) }}
{{- $http := default dict $cfg.http }}
{{- $_ := set $http "listen" "0.0.0.0:8080" }}
{{- $_ := set $cfg "http" $http }}
{{- $journal := default dict $cfg.journal }}
{{- $_ := set $journal "path" (printf "%s/remediator.sqlite" (include "remediator.journalDir" .)) }}
{{- if .Values.postgresql.url }}
{{- $_ := set $journal "url" .Values.postgresql.url }}
{{- if .Values.postgresql.existingSecret }}
{{- $_ := set $journal "password" (dict "env" "REMEDIATOR_DB_PASSWORD") }}
{{- end }}
{{- end }}
{{- $_ := set $cfg "journal" $journal }}
{{- $kube := default dict $cfg.kubernetes }}
{{- $_ := set $kube "mode" "incluster" }}
{{- $_ := set $cfg "kubernetes" $kube }}
{{- $guards := default dict $cfg.guards }}
{{- if and (eq .Values.rbac.scope "namespaced") (not $guards.allowed_namespaces) }}
{{- $_ := set $guards "allowed_namespaces" (include "remediator.rbacNamespaces" . | fromJsonArray) }}
{{- end }}
{{- $_ := set $cfg "guards" $guards }}
{{- $rules := list }}
{{- if .Values.rules.builtin }}
{{- $rules = append $rules (include "remediator.builtinRulesDir" .) }}
{{- end }}
{{- if include "remediator.hasCustomRules" . }}
{{- $rules = append $rules (include "remediator.rulesDir" .) }}
{{- end }}
{{- $_ := set $cfg "rules" $rules }}
{{- toYaml $cfg }}
{{- end }}

{{/*
RBAC rules: only the verbs the enabled action families need.
Always: read the workloads, read namespaces (the opt-out annotation), create Events.
*/}}
{{- define "remediator.rbacRules" -}}
{{- $a := .Values.actions }}
{{- $patchDeploy := or $a.restart $a.undo $a.setEnv $a.setImage $a.pauseRollout }}
{{- $patchOthers := or $a.restart $a.setEnv $a.setImage }}
{{- /* The rollout history: undo, restart's "unless rolled out within", the canary's undo, a
     Deployment pod's owner chain (delete_pod), and the evidence's history. */}}
{{- $history := or $a.restart $a.undo $a.pauseRollout $a.deletePod $a.deletePodForce $a.evidence }}
{{- $podVerbs := list }}
{{- if or $a.deletePod $a.deletePodForce }}{{ $podVerbs = concat $podVerbs (list "get" "list") }}{{ end }}
{{- if and (or $a.runJob $a.evidence) (not (has "list" $podVerbs)) }}{{ $podVerbs = append $podVerbs "list" }}{{ end }}
{{- if $a.deletePodForce }}{{ $podVerbs = append $podVerbs "delete" }}{{ end -}}
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: {{ ternary (list "get" "patch") (list "get") $patchDeploy | toJson }}
- apiGroups: ["apps"]
  resources: ["statefulsets", "daemonsets"]
  verbs: {{ ternary (list "get" "patch") (list "get") $patchOthers | toJson }}
{{- if $history }}
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["list"]
{{- end }}
{{- if $a.scale }}
- apiGroups: ["apps"]
  resources: ["deployments/scale", "statefulsets/scale"]
  verbs: ["get", "patch"]
{{- end }}
{{- if $podVerbs }}
- apiGroups: [""]
  resources: ["pods"]
  verbs: {{ $podVerbs | toJson }}
{{- end }}
{{- if $a.deletePod }}
- apiGroups: [""]
  resources: ["pods/eviction"]
  verbs: ["create"]
{{- end }}
{{- if or $a.runJob $a.evidence }}
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
{{- end }}
{{- if $a.runJob }}
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get", "delete"]
{{- end }}
{{- if $a.evidence }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list"]
{{- end }}
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/* Label selector for remediator's own metrics in the PrometheusRule. */}}
{{- define "remediator.metricSelector" -}}
job="{{ include "remediator.fullname" . }}", namespace="{{ .Release.Namespace }}"
{{- end }}
