{{/* Labels on every object: the ones kustomize's config/default sets, and Helm's. */}}
{{- define "keygate.labels" -}}
app.kubernetes.io/part-of: keygate
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component (controller, auth-server, redis): the same as config/default's, so a kustomize install can be taken over. */}}
{{- define "keygate.selector" -}}
app.kubernetes.io/name: keygate
app.kubernetes.io/component: {{ . }}
{{- end }}

{{/* The image, by digest when one is given, else by tag (default: appVersion). */}}
{{- define "keygate.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* Pod placement and annotations of a component's values. */}}
{{- define "keygate.podExtras" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The restricted Pod Security Standard, as config/default. */}}
{{- define "keygate.containerSecurityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end }}

{{- define "keygate.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  seccompProfile:
    type: RuntimeDefault
{{- end }}

{{/* The in-cluster address of /check. */}}
{{- define "keygate.checkURL" -}}
http://keygate-auth-server.{{ .Release.Namespace }}.svc.cluster.local/check
{{- end }}
