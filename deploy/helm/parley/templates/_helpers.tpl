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
{{- with .Values.attachments.s3 }}
{{- if .bucket }}
- name: Parley__Attachments__Store
  value: s3
- name: Parley__Attachments__S3__Bucket
  value: {{ .bucket | quote }}
- name: Parley__Attachments__S3__ServiceUrl
  value: {{ .serviceUrl | quote }}
- name: Parley__Attachments__S3__Region
  value: {{ .region | quote }}
- name: Parley__Attachments__S3__ForcePathStyle
  value: {{ .forcePathStyle | quote }}
- name: Parley__Attachments__S3__Prefix
  value: {{ .prefix | quote }}
{{- end }}
{{- end }}
{{- if .Values.attachments.s3.bucket }}
- name: Parley__Attachments__S3__AccessKey
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretName" . }}, key: s3AccessKey, optional: true }
- name: Parley__Attachments__S3__SecretKey
  valueFrom:
    secretKeyRef: { name: {{ include "parley.secretName" . }}, key: s3SecretKey, optional: true }
{{- end }}
{{- range $key, $value := .Values.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
