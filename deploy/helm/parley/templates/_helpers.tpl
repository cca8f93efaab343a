{{- define "parley.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parley.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "parley.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "parley.secretName" -}}
{{- default (include "parley.fullname" .) .Values.secret.existingSecret -}}
{{- end -}}

{{- define "parley.env" -}}
- name: Parley__Database__Provider
  value: postgres
- name: Parley__Database__ApplyMigrations
  value: "false"
- name: Parley__Database__ConnectionString
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretName" . }}, key: database }
- name: Parley__Redis__ConnectionString
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretName" . }}, key: redis }
- name: Parley__Bootstrap__AdminEmail
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretName" . }}, key: adminEmail, optional: true }
- name: Parley__Bootstrap__AdminPassword
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretName" . }}, key: adminPassword, optional: true }
- name: Parley__DataProtection__Key
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretName" . }}, key: keyRingKey }
{{- range $i, $proxy := .Values.knownProxies }}
- name: Parley__Network__KnownProxies__{{ $i }}
  value: {{ $proxy | quote }}
{{- end }}
{{- if .Values.attachments.persistentVolumeClaim }}
- name: Parley__Attachments__Directory
  value: /var/lib/parley-shared/attachments
{{- end }}
{{- range $key, $value := .Values.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
