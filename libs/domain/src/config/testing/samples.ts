// Real-world shaped sample configs for the validator and diff specs.

export const FLUENT_BIT_CLASSIC = `[SERVICE]
    Flush        5
    Daemon       Off
    Log_Level    info
    Parsers_File parsers.conf
    HTTP_Server  On

@SET env=prod
@INCLUDE inputs/*.conf

[INPUT]
    Name              tail
    Path              /var/log/containers/*.log
    multiline.parser  docker, cri
    Tag               kube.*
    Mem_Buf_Limit     5MB
    Skip_Long_Lines   On

# Enrich with Kubernetes metadata.
[FILTER]
    Name                kubernetes
    Match               kube.*
    Merge_Log           On
    Keep_Log            Off

[OUTPUT]
    Name  es
    Match *
    Host  \${ES_HOST}
    Port  9200
`;

export const FLUENT_BIT_PARSERS = `[PARSER]
    Name        docker
    Format      json
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S.%L

[MULTILINE_PARSER]
    name          multiline-regex-test
    type          regex
    flush_timeout 1000
    rule      "start_state"   "/([a-zA-Z]+ \\d+ \\d+\\:\\d+\\:\\d+)(.*)/"  "cont"
    rule      "cont"          "/^\\s+at.*/"                     "cont"
`;

export const FLUENT_BIT_YAML = `service:
  flush: 1
  log_level: info
  http_server: on

parsers:
  - name: json
    format: json

pipeline:
  inputs:
    - name: tail
      path: /var/log/app/*.log
      tag: app.*
      processors:
        logs:
          - name: modify
            add: env prod
  filters:
    - name: grep
      match: app.*
      regex: level (warn|error)
  outputs:
    - name: stdout
      match: '*'
      format: json_lines
`;

export const FLUENTD_CONF = `# Fluentd aggregator
<system>
  workers 2
  log_level info
</system>

@include conf.d/*.conf

<source>
  @type forward
  @id in_forward
  port 24224
  bind 0.0.0.0
</source>

<source>
  @type tail
  path /var/log/nginx/access.log
  pos_file /var/log/td-agent/nginx.pos
  tag nginx.access
  <parse>
    @type regexp
    expression /^(?<remote>[^ ]*) (?<host>[^ ]*) \\[(?<time>[^\\]]*)\\]$/
    time_format %d/%b/%Y:%H:%M:%S %z
  </parse>
</source>

<filter nginx.**>
  @type record_transformer
  <record>
    hostname "#{Socket.gethostname}"
    tags ["web", "nginx"]
  </record>
</filter>

<label @ERRORS>
  <match **>
    @type file
    path /var/log/fluent/errors
  </match>
</label>

<match app.** nginx.**>
  @type elasticsearch
  host es.internal
  port 9200
  logstash_format true
  <buffer tag,time>
    @type file
    path /var/log/td-agent/buffer/es
    timekey 1h
    flush_interval 10s
  </buffer>
</match>
`;

export const OTELCOL_YAML = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
      http:
        endpoint: 0.0.0.0:4318
  filelog:
    include: [/var/log/app/*.log]

processors:
  batch:
    timeout: 5s
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80

exporters:
  otlphttp:
    endpoint: https://collector.example.com:4318
  debug: {}

extensions:
  health_check: {}

service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlphttp]
    logs/app:
      receivers: [filelog]
      processors: [batch]
      exporters: [otlphttp, debug]
`;
