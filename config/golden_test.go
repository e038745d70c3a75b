package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testVars is the environment of the golden tests.
var testVars = map[string]string{
	"CITYWATCH_TEST_PASSWORD":         "env-secret-p4ss",
	"CITYWATCH_TEST_DATA":             "/tmp/citywatch-test",
	"CITYWATCH_GATEWAY_B_PASSWORD":    "example-gateway-password",
	"CITYWATCH_CENTRAL_MQTT_PASSWORD": "example-central-password",
	"CITYWATCH_INFLUX_TOKEN":          "example-influx-token",
	"CITYWATCH_CAMERA_PASSWORD":       "example-camera-password",
	"CITYWATCH_WEBHOOK_SECRET":        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	"CITYWATCH_CHAT_TOKEN":            "example-chat-token",
	"CITYWATCH_TELEGRAM_BOT_TOKEN":    "123456:example-telegram-bot-token",
	"CITYWATCH_ZALO_ACCESS_TOKEN":     "example-zalo-oa-access-token",
}

func testEnv() environment {
	return environment{
		lookup: func(k string) (string, bool) { v, ok := testVars[k]; return v, ok },
		host:   "testhost",
		fsys:   osFS{},
	}
}

// badConfigs are the golden bad configurations: testdata/<file> and the exact errors Load returns, in order.
var badConfigs = []struct {
	file string
	errs []string
}{
	{"sites_map.bad.yaml", []string{
		`testdata/sites_map.bad.yaml:6: sites[1].site: is listed twice; got "site-a"`,
		`testdata/sites_map.bad.yaml:7: sites[1].lat: must be between -85.05 and 85.05 (degrees); got 95`,
		`testdata/sites_map.bad.yaml:9: sites[2].site: is required`,
		`testdata/sites_map.bad.yaml:9: sites[2].lat: is required`,
		`testdata/sites_map.bad.yaml:10: sites[2].lon: must be between -180 and 180 (degrees); got -200`,
		`testdata/sites_map.bad.yaml:12: map.tile_url: must not contain credentials (the browser loads the tiles, so everyone would see them)`,
		`testdata/sites_map.bad.yaml:14: plans.max_image_bytes: must be > 0 and at most 64MiB; got 0`,
	}},
	{"camera_zones.bad.yaml", []string{
		`testdata/camera_zones.bad.yaml:6: cameras[0].zones[0]: zone "door": polygon: must have 3..64 points, got 2; got "door: 0.1,0.1 0.5,0.1"`,
		`testdata/camera_zones.bad.yaml:7: cameras[0].zones[1]: zone: want "name: x1,y1 x2,y2 x3,y3 ..."; got "hall 0,0 1,0 1,1"`,
		`testdata/camera_zones.bad.yaml:9: cameras[0].analysis_fps: must be > 0 and <= 30; got 0`,
		`testdata/camera_zones.bad.yaml:10: cameras[0].clip_pre: must not exceed media.ring_seconds (30s); got "2m"`,
	}},
	{"exposed_keys.bad.yaml", []string{
		`testdata/exposed_keys.bad.yaml:7: storage.influx.retry_max: must be >= retry_initial (10s); got "1s"`,
		`testdata/exposed_keys.bad.yaml:8: storage.influx.tags.city: must not be empty`,
		`testdata/exposed_keys.bad.yaml:8: storage.influx.tags.edge: is set by edge.name; remove it here`,
		`testdata/exposed_keys.bad.yaml:9: storage.influx.dead_letter_max_bytes: must be > 0; got "0"`,
		`testdata/exposed_keys.bad.yaml:13: storage.remote_write[0].dead_letter_max_bytes: must be > 0; got "0"`,
		`testdata/exposed_keys.bad.yaml:18: cameras[0].tls_fingerprint: must be the SHA-256 of the certificate, 64 hex digits (colons allowed); got "ab:cd"`,
		`testdata/exposed_keys.bad.yaml:19: cameras[0].keyframe_timeout: must be > 0; got "0s"`,
		`testdata/exposed_keys.bad.yaml:20: cameras[0].min_fps_ratio: must be > 0 and <= 1; got 0`,
		`testdata/exposed_keys.bad.yaml:21: cameras[0].max_loss_ratio: must be > 0 and <= 1; got 1.5`,
		`testdata/exposed_keys.bad.yaml:25: cameras[1].tls_fingerprint: is only for rtsps:// URLs; got url "rtsp://cam.example/s"`,
		`testdata/exposed_keys.bad.yaml:27: media.ring_max_bytes: must be between 1MiB and 1GiB; got "512KiB"`,
	}},
	{"camera_query_credentials.bad.yaml", []string{
		`testdata/camera_query_credentials.bad.yaml:4: cameras[0].url: must not contain credentials; use username and password (or password_file)`,
	}},
	{"camera_bad_url.bad.yaml", []string{
		`testdata/camera_bad_url.bad.yaml:2: cameras[0].id: must be 1-64 characters of [A-Za-z0-9_.-], not "." or ".."; got "Bad ID"`,
		`testdata/camera_bad_url.bad.yaml:2: cameras[0].username: is required when a password is set`,
		`testdata/camera_bad_url.bad.yaml:4: cameras[0].url: must not contain credentials; use username and password (or password_file)`,
		`testdata/camera_bad_url.bad.yaml:6: cameras[0].transport: must be one of auto, tcp, udp; got "quic"`,
		`testdata/camera_bad_url.bad.yaml:7: cameras[0].stall_timeout: must be > 0; got "0s"`,
		`testdata/camera_bad_url.bad.yaml:8: cameras[0].jitter: must be >= 0 and < 1; got 1.5`,
		`testdata/camera_bad_url.bad.yaml:9: cameras[1].site: is required`,
	}},
	{"unknown_key.bad.yaml", []string{
		`testdata/unknown_key.bad.yaml:1: htpp: unknown key; did you mean "http"?`,
		`testdata/unknown_key.bad.yaml:5: broker.max_mesage_bytes: unknown key; did you mean "max_message_bytes"?`,
		`testdata/unknown_key.bad.yaml:9: broker.users[0].pubish: unknown key; did you mean "publish"?`,
		`testdata/unknown_key.bad.yaml:13: storage.tsdb.compaction: unknown key`,
	}},
	{"wrong_type_scalar.bad.yaml", []string{
		`testdata/wrong_type_scalar.bad.yaml:2: ingest.dead_letter_size: must be an integer; got "lots"`,
		`testdata/wrong_type_scalar.bad.yaml:3: ingest.default_mapping: must be true or false; got "true" (quotes make it a string; remove them)`,
		`testdata/wrong_type_scalar.bad.yaml:7: ingest.sources[0].qos: must be an integer; got "1" (quotes make it a string; remove them)`,
		`testdata/wrong_type_scalar.bad.yaml:8: ingest.sources[0].max_inflight: must be an integer; got "1.5"`,
		`testdata/wrong_type_scalar.bad.yaml:11: storage.influx.gzip: must be true or false; got "yes"`,
		`testdata/wrong_type_scalar.bad.yaml:12: storage.influx.replay_rate: must be a number; got "fast"`,
	}},
	{"wrong_type_collection.bad.yaml", []string{
		`testdata/wrong_type_collection.bad.yaml:1: http: must be a mapping; got "8080"`,
		`testdata/wrong_type_collection.bad.yaml:4: broker.users: must be a list; got a mapping`,
		`testdata/wrong_type_collection.bad.yaml:8: ingest.sources[0].url: must be a string; got a list`,
		`testdata/wrong_type_collection.bad.yaml:9: ingest.sources[0].topics: must be a list; got "city/#"`,
		`testdata/wrong_type_collection.bad.yaml:12: ingest.rules[0].labels: must be a mapping; got a list`,
	}},
	{"top_level_list.bad.yaml", []string{
		`testdata/top_level_list.bad.yaml:1: the top level must be a mapping of keys; got a list`,
	}},
	{"bad_duration.bad.yaml", []string{
		`testdata/bad_duration.bad.yaml:5: ingest.sources[0].reconnect_min: must be a duration like "10s", "1h30m" or "15d"; got "1 second"`,
		`testdata/bad_duration.bad.yaml:6: ingest.sources[0].reconnect_max: must be a duration like "10s", "1h30m" or "15d"; got "30"`,
		`testdata/bad_duration.bad.yaml:9: storage.tsdb.retention: must be a duration like "10s", "1h30m" or "15d"; got "15days"`,
		`testdata/bad_duration.bad.yaml:10: storage.tsdb.out_of_order_window: must be a duration like "10s", "1h30m" or "15d"; got "1hh"`,
	}},
	{"nonpositive_duration.bad.yaml", []string{
		`testdata/nonpositive_duration.bad.yaml:5: ingest.sources[0].reconnect_min: must be > 0; got "0s"`,
		`testdata/nonpositive_duration.bad.yaml:6: ingest.sources[0].reconnect_max: must be > 0; got "-5s"`,
		`testdata/nonpositive_duration.bad.yaml:9: storage.tsdb.retention: must be > 0; got "0s"`,
		`testdata/nonpositive_duration.bad.yaml:10: storage.tsdb.out_of_order_window: must be >= 0; got "-1m"`,
		`testdata/nonpositive_duration.bad.yaml:12: storage.influx.flush_interval: must be > 0; got "0s"`,
		`testdata/nonpositive_duration.bad.yaml:13: storage.influx.timeout: must be > 0; got "0s"`,
	}},
	{"ingest_devices.bad.yaml", []string{
		`testdata/ingest_devices.bad.yaml:2: ingest.max_devices: must be between 1 and 10000000; got 0`,
		`testdata/ingest_devices.bad.yaml:3: ingest.device_save_interval: must be > 0; got "0s"`,
	}},
	{"bad_enum.bad.yaml", []string{
		`testdata/bad_enum.bad.yaml:2: log.level: must be one of debug, info, warn, error; got "verbose"`,
		`testdata/bad_enum.bad.yaml:3: log.format: must be one of text, json; got "xml"`,
		`testdata/bad_enum.bad.yaml:10: ingest.rules[2].format: must be one of auto, json, influx, number, senml; got "xml"`,
		`testdata/bad_enum.bad.yaml:13: storage.influx.precision: must be one of ns, us, ms, s; got "m"`,
		`testdata/bad_enum.bad.yaml:15: storage.influx.queue.full_policy: must be one of drop_oldest, block; got "drop_newest"`,
	}},
	{"env_undefined.bad.yaml", []string{
		`testdata/env_undefined.bad.yaml:1: data_dir: environment variable "CITYWATCH_UNDEFINED_DIR" is not set`,
		`testdata/env_undefined.bad.yaml:3: http.listen: environment variable "CITYWATCH_UNDEFINED_HOST" is not set`,
		`testdata/env_undefined.bad.yaml:3: http.listen: environment variable "CITYWATCH_UNDEFINED_PORT" is not set`,
		`testdata/env_undefined.bad.yaml:9: storage.influx.token: environment variable "CITYWATCH_UNDEFINED_TOKEN" is not set`,
	}},
	{"env_bad_reference.bad.yaml", []string{
		`testdata/env_bad_reference.bad.yaml:2: edge.name: invalid "${" reference: use ${NAME} with NAME of letters, digits and _, or "$$" for a literal "$"`,
		`testdata/env_bad_reference.bad.yaml:3: edge.site: invalid "${" reference: use ${NAME} with NAME of letters, digits and _, or "$$" for a literal "$"`,
		`testdata/env_bad_reference.bad.yaml:9: ingest.sources[0].password: invalid "${" reference: use ${NAME} with NAME of letters, digits and _, or "$$" for a literal "$"`,
	}},
	{"remote_write.bad.yaml", []string{
		`testdata/remote_write.bad.yaml:3: storage.remote_write[0].name: must match [a-z0-9_-]+; got "Centre"`,
		`testdata/remote_write.bad.yaml:3: storage.remote_write[0].username: is required when a password is set`,
		`testdata/remote_write.bad.yaml:4: storage.remote_write[0].url: must not contain credentials; use username/password or bearer_token (or their *_file)`,
		`testdata/remote_write.bad.yaml:5: storage.remote_write[0].protobuf_message: must be one of prometheus.WriteRequest, io.prometheus.write.v2.Request; got "v3"`,
		`testdata/remote_write.bad.yaml:8: storage.remote_write[0].headers.Content-Type: must be an HTTP header name other than Authorization, Content-Encoding, Content-Length, Content-Type, Host, Retry-Attempt, User-Agent, X-Prometheus-Remote-Write-Version; got "Content-Type"`,
		`testdata/remote_write.bad.yaml:9: storage.remote_write[0].bearer_token: set username/password or bearer_token, not both`,
		`testdata/remote_write.bad.yaml:11: storage.remote_write[0].write_relabel[0].action: must be one of keep, drop; got "replace"`,
		"testdata/remote_write.bad.yaml:12: storage.remote_write[0].write_relabel[0].regex: invalid regular expression \"(\": error parsing regexp: missing closing ): `(`",
		`testdata/remote_write.bad.yaml:14: storage.remote_write[0].queue.segment_bytes: must be >= 4KiB; got "1KiB"`,
		`testdata/remote_write.bad.yaml:16: storage.remote_write[1].url: must be an http or https URL like "http://victoriametrics:8428/api/v1/write"; got "ftp://vm/api/v1/write"`,
		`testdata/remote_write.bad.yaml:17: storage.remote_write[1].max_backoff: must be >= min_backoff (500ms); got "100ms"`,
		`testdata/remote_write.bad.yaml:18: storage.remote_write[1].batch_size: must be between 1 and 1000000; got 0`,
		`testdata/remote_write.bad.yaml:20: storage.remote_write[1].external_labels.1bad: needs a valid label name and a non-empty value; got "1bad"="x"`,
		`testdata/remote_write.bad.yaml:22: storage.remote_write[1].write_relabel[0].regex: is required`,
		`testdata/remote_write.bad.yaml:23: storage.remote_write[2].name: duplicate name "backup" (also storage.remote_write[1])`,
		`testdata/remote_write.bad.yaml:23: storage.remote_write[2].queue.dir: "data/remote-write/backup" is also the queue of storage.remote_write[1]; each endpoint needs its own`,
		`testdata/remote_write.bad.yaml:26: storage.remote_write[2].bearer_token_file: bearer_token and bearer_token_file are both set; set only one`,
	}},
	{"secret_and_file.bad.yaml", []string{
		`testdata/secret_and_file.bad.yaml:5: broker.users[0].password_file: password and password_file are both set; set only one`,
		`testdata/secret_and_file.bad.yaml:8: broker.users[1].password_hash_file: password_hash and password_hash_file are both set; set only one`,
		`testdata/secret_and_file.bad.yaml:15: ingest.sources[0].password_file: password and password_file are both set; set only one`,
		`testdata/secret_and_file.bad.yaml:22: storage.influx.token_file: token and token_file are both set; set only one`,
	}},
	{"secret_file_problems.bad.yaml", []string{
		`testdata/secret_file_problems.bad.yaml:4: broker.users[0].password_file: file "testdata/secrets/does-not-exist" does not exist`,
		`testdata/secret_file_problems.bad.yaml:6: broker.users[1].password_file: file "testdata/secrets/empty.password" is empty`,
		`testdata/secret_file_problems.bad.yaml:8: broker.users[2].password_file: "testdata/secrets" is a directory, not a file`,
	}},
	{"bad_topic_template.bad.yaml", []string{
		`testdata/bad_topic_template.bad.yaml:3: ingest.rules[0].topic: invalid topic template "city/#/{device}": level 2: "#" must be the last level`,
		`testdata/bad_topic_template.bad.yaml:4: ingest.rules[1].topic: invalid topic template "city/{bad-name}/x": level 2: "bad-name" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)`,
		`testdata/bad_topic_template.bad.yaml:5: ingest.rules[2].topic: invalid topic template "city/dev-{device}": level 2: "dev-{device}": a {label} must be a whole level`,
		`testdata/bad_topic_template.bad.yaml:6: ingest.rules[3].topic: invalid topic template "city/{device}/{device}": level 3: label {device} is captured twice`,
		`testdata/bad_topic_template.bad.yaml:7: ingest.rules[4].topic: invalid topic template "city/{__name__}": level 2: "__name__" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)`,
		`testdata/bad_topic_template.bad.yaml:8: ingest.rules[5].topic: invalid topic template "city/a+b": level 2: "a+b": "+" and "#" must be whole levels`,
		`testdata/bad_topic_template.bad.yaml:9: ingest.rules[6].topic: is required`,
		`testdata/bad_topic_template.bad.yaml:10: ingest.rules[7].topic: invalid topic template "$share/g/city/#": topic template must not start with "$share/"; set shared_group on the source`,
	}},
	{"bad_bcrypt.bad.yaml", []string{
		`testdata/bad_bcrypt.bad.yaml:4: broker.users[0].password_hash: is not a bcrypt hash ("$2a$", "$2b$" or "$2y$", a cost 04-31, "$" and 53 characters)`,
		`testdata/bad_bcrypt.bad.yaml:6: broker.users[1].password_hash: is not a bcrypt hash ("$2a$", "$2b$" or "$2y$", a cost 04-31, "$" and 53 characters)`,
		`testdata/bad_bcrypt.bad.yaml:8: broker.users[2].password_hash: is not a bcrypt hash ("$2a$", "$2b$" or "$2y$", a cost 04-31, "$" and 53 characters)`,
		`testdata/bad_bcrypt.bad.yaml:10: broker.users[3].password_hash: is not a bcrypt hash ("$2a$", "$2b$" or "$2y$", a cost 04-31, "$" and 53 characters)`,
	}},
	{"duplicate_names.bad.yaml", []string{
		`testdata/duplicate_names.bad.yaml:5: broker.users[1].username: duplicate username "sensor" (also broker.users[0])`,
		`testdata/duplicate_names.bad.yaml:11: ingest.sources[1].name: duplicate name "central" (also ingest.sources[0])`,
		`testdata/duplicate_names.bad.yaml:15: ingest.sources[2].client_id: duplicate client id "citywatch-central-testhost" (also ingest.sources[0]); the broker would disconnect one of them`,
		`testdata/duplicate_names.bad.yaml:18: ingest.rules[1].topic: same topic as ingest.rules[0]; only the first matching rule applies`,
	}},
	{"duplicate_key.bad.yaml", []string{
		`testdata/duplicate_key.bad.yaml:5: http: duplicate key (first set at line 1)`,
		`testdata/duplicate_key.bad.yaml:9: broker.listen: duplicate key (first set at line 8)`,
	}},
	{"bad_listen.bad.yaml", []string{
		`testdata/bad_listen.bad.yaml:2: http.listen: must be host:port, e.g. "127.0.0.1:1883" or ":1883"; got "8080"`,
		`testdata/bad_listen.bad.yaml:4: broker.listen: port must be a number 0-65535; got "127.0.0.1:99999"`,
		`testdata/bad_listen.bad.yaml:5: broker.websocket_listen: port must be a number 0-65535; got "localhost:ws"`,
		`testdata/bad_listen.bad.yaml:7: broker.tls.listen: invalid host in "bad host:8883"`,
	}},
	{"listen_conflict.bad.yaml", []string{
		`testdata/listen_conflict.bad.yaml:4: broker.listen: address "0.0.0.0:8080" is also used by http.listen`,
		`testdata/listen_conflict.bad.yaml:7: broker.tls.listen: address "127.0.0.1:1883" is also used by broker.websocket_listen`,
	}},
	{"tls_pairs.bad.yaml", []string{
		`testdata/tls_pairs.bad.yaml:2: http.tls.key_file: is required when cert_file is set`,
		`testdata/tls_pairs.bad.yaml:5: broker.tls.listen: is required when cert_file, key_file or client_ca_file is set`,
		`testdata/tls_pairs.bad.yaml:12: ingest.sources[0].tls.cert_file: is required when key_file is set`,
		`testdata/tls_pairs.bad.yaml:16: ingest.sources[1].tls: is set but url scheme "tcp" does not use TLS; use ssl, tls, mqtts or wss`,
	}},
	{"tls_missing_files.bad.yaml", []string{
		`testdata/tls_missing_files.bad.yaml:3: http.tls.cert_file: file "testdata/certs/missing.crt" does not exist`,
		`testdata/tls_missing_files.bad.yaml:4: http.tls.key_file: file "/nonexistent/citywatch/server.key" does not exist`,
		`testdata/tls_missing_files.bad.yaml:8: broker.tls.cert_file: "testdata/certs" is a directory, not a file`,
		`testdata/tls_missing_files.bad.yaml:10: broker.tls.client_ca_file: file "testdata/certs/missing-ca.crt" does not exist`,
	}},
	{"bad_source_url.bad.yaml", []string{
		`testdata/bad_source_url.bad.yaml:4: ingest.sources[0].url: scheme must be one of tcp, mqtt, ssl, tls, mqtts, ws, wss; got "http://127.0.0.1:1883"`,
		`testdata/bad_source_url.bad.yaml:6: ingest.sources[1].url: must include a port, e.g. "tcp://broker:1883"; got "tcp://127.0.0.1"`,
		`testdata/bad_source_url.bad.yaml:8: ingest.sources[2].url: must not contain credentials; use username and password (or password_file)`,
		`testdata/bad_source_url.bad.yaml:10: ingest.sources[3].url: must name a host; got "tcp://:1883"`,
		`testdata/bad_source_url.bad.yaml:12: ingest.sources[4].url: invalid URL "tcp://127.0.0.1:1883 x"`,
		`testdata/bad_source_url.bad.yaml:14: ingest.sources[5].url: is required`,
	}},
	{"bad_source_values.bad.yaml", []string{
		`testdata/bad_source_values.bad.yaml:3: ingest.sources[0].name: is required`,
		`testdata/bad_source_values.bad.yaml:3: ingest.sources[0].username: is required when a password is set`,
		`testdata/bad_source_values.bad.yaml:5: ingest.sources[0].qos: must be 0 or 1; got 2`,
		`testdata/bad_source_values.bad.yaml:6: ingest.sources[0].max_inflight: must be between 1 and 65535; got 0`,
		`testdata/bad_source_values.bad.yaml:8: ingest.sources[0].reconnect_max: must be >= reconnect_min (1m); got "10s"`,
		`testdata/bad_source_values.bad.yaml:9: ingest.sources[1].name: must match [a-z0-9_-]+; got "Bad.Name"`,
		`testdata/bad_source_values.bad.yaml:11: ingest.sources[1].topics: must list at least one topic filter`,
		`testdata/bad_source_values.bad.yaml:12: ingest.sources[1].shared_group: must not contain "/", "+", "#" or control characters; got "a/b"`,
	}},
	{"bad_topic_filters.bad.yaml", []string{
		`testdata/bad_topic_filters.bad.yaml:3: broker.users[0].username: must not contain "+", "#", "/" or control characters; got "a/b"`,
		`testdata/bad_topic_filters.bad.yaml:5: broker.users[0].publish[0]: invalid topic filter "city/#/x": "#" must be the last level`,
		`testdata/bad_topic_filters.bad.yaml:5: broker.users[0].publish[1]: only the placeholder {username} is replaced; got "{user}/x"`,
		`testdata/bad_topic_filters.bad.yaml:6: broker.users[0].subscribe[0]: invalid topic filter "a+": "+" must be a whole level`,
		`testdata/bad_topic_filters.bad.yaml:7: broker.users[1].username: is required`,
		`testdata/bad_topic_filters.bad.yaml:12: ingest.sources[0].topics[0]: invalid topic filter "city/#/x": "#" must be the last level`,
		`testdata/bad_topic_filters.bad.yaml:12: ingest.sources[0].topics[1]: invalid topic filter "": topic filter is empty`,
		`testdata/bad_topic_filters.bad.yaml:12: ingest.sources[0].topics[2]: must not start with "$share/"; set shared_group instead`,
		`testdata/bad_topic_filters.bad.yaml:12: ingest.sources[0].topics[4]: duplicate topic filter "city/+"`,
	}},
	{"yaml_syntax.bad.yaml", []string{
		// yaml.v3 reports the line before the flow mapping that is not closed.
		`testdata/yaml_syntax.bad.yaml:2: invalid YAML: did not find expected ',' or '}'`,
	}},
	{"yaml_tabs.bad.yaml", []string{
		`testdata/yaml_tabs.bad.yaml:2: invalid YAML: found character that cannot start any token`,
	}},
	{"bad_bytesize.bad.yaml", []string{
		`testdata/bad_bytesize.bad.yaml:2: broker.max_message_bytes: must be a byte size like "512MiB", "1GB" or a number of bytes; got "12XB"`,
		`testdata/bad_bytesize.bad.yaml:4: ingest.max_payload_bytes: must be a byte size like "512MiB", "1GB" or a number of bytes; got "-1"`,
		`testdata/bad_bytesize.bad.yaml:9: storage.influx.queue.segment_bytes: must be <= max_bytes (1MiB); got "16MiB"`,
	}},
	{"bytesize_limits.bad.yaml", []string{
		`testdata/bytesize_limits.bad.yaml:2: broker.max_message_bytes: must be between 1 and 268435455 bytes (the MQTT limit); got "1GiB"`,
		`testdata/bytesize_limits.bad.yaml:4: ingest.max_payload_bytes: must be between 1 and 268435455 bytes; got "0"`,
		`testdata/bytesize_limits.bad.yaml:5: ingest.dead_letter_size: must be between 0 and 1000000; got -1`,
		`testdata/bytesize_limits.bad.yaml:8: storage.influx.batch_size: must be between 1 and 1000000; got 0`,
		`testdata/bytesize_limits.bad.yaml:9: storage.influx.replay_rate: must be a finite number >= 0 (0 = unlimited); got -1`,
		`testdata/bytesize_limits.bad.yaml:11: storage.influx.queue.max_bytes: must be > 0; got "0"`,
	}},
	{"influx_incomplete.bad.yaml", []string{
		`testdata/influx_incomplete.bad.yaml:2: storage.influx.org: is required when url is set`,
		`testdata/influx_incomplete.bad.yaml:2: storage.influx.bucket: is required when url is set`,
		`testdata/influx_incomplete.bad.yaml:3: storage.influx.url: must be an http or https URL like "http://influxdb:8086"; got "ftp://influx.example"`,
	}},
	{"influx_without_url.bad.yaml", []string{
		`testdata/influx_without_url.bad.yaml:2: storage.influx.url: is required when org, bucket or token is set (the forwarder is enabled by url)`,
	}},
	{"influx_url_credentials.bad.yaml", []string{
		`testdata/influx_url_credentials.bad.yaml:3: storage.influx.url: must not contain credentials; use token (or token_file)`,
	}},
	{"bad_rules.bad.yaml", []string{
		`testdata/bad_rules.bad.yaml:3: ingest.rules[0].metric: is required for format number when the topic has no {metric} level`,
		`testdata/bad_rules.bad.yaml:5: ingest.rules[0].metric_prefix: must be a metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*); got "9x"`,
		`testdata/bad_rules.bad.yaml:6: ingest.rules[0].labels.bad-label: "bad-label" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __, not "metric")`,
		`testdata/bad_rules.bad.yaml:6: ingest.rules[0].labels.empty: must not be empty`,
		`testdata/bad_rules.bad.yaml:6: ingest.rules[0].labels.metric: "metric" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __, not "metric")`,
		`testdata/bad_rules.bad.yaml:6: ingest.rules[0].labels.site: label "site" is also captured by the topic template`,
		`testdata/bad_rules.bad.yaml:7: ingest.rules[0].include[1]: must not be empty`,
		`testdata/bad_rules.bad.yaml:8: ingest.rules[0].exclude[0]: field "temp" is also in include`,
		`testdata/bad_rules.bad.yaml:10: ingest.rules[0].scale.temp.factor: must be a finite number other than 0; got 0`,
		`testdata/bad_rules.bad.yaml:11: ingest.rules[0].scale.hum.offset: must be a finite number; got +Inf`,
		`testdata/bad_rules.bad.yaml:12: ingest.rules[0].device_labels[1]: label "room" is neither captured by the topic nor a static label`,
		`testdata/bad_rules.bad.yaml:12: ingest.rules[0].device_labels[2]: duplicate label "site"`,
		`testdata/bad_rules.bad.yaml:14: ingest.rules[1].metric: is set but the topic has a {metric} level too; use one`,
		`testdata/bad_rules.bad.yaml:16: ingest.rules[2].metric: must be a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*); got "bad metric"`,
	}},
	{"user_credentials.bad.yaml", []string{
		`testdata/user_credentials.bad.yaml:3: broker.users[0]: one of password_hash, password_hash_file, password or password_file is required`,
		`testdata/user_credentials.bad.yaml:4: broker.users[1]: set only one of password_hash, password_hash_file, password and password_file`,
	}},
	{"multi_document.bad.yaml", []string{
		`testdata/multi_document.bad.yaml:2: the file holds more than one YAML document; use one`,
	}},
	{"bad_edge_and_data_dir.bad.yaml", []string{
		`testdata/bad_edge_and_data_dir.bad.yaml:1: data_dir: must not be empty`,
		`testdata/bad_edge_and_data_dir.bad.yaml:3: edge.name: must be UTF-8 text without control characters; got "line1\nline2"`,
		`testdata/bad_edge_and_data_dir.bad.yaml:4: edge.site: must be a string; got a mapping`,
		`testdata/bad_edge_and_data_dir.bad.yaml:6: http.listen: must not be empty`,
	}},
	{"notify_routes.bad.yaml", []string{
		`testdata/notify_routes.bad.yaml:6: notify.routes[0].receiver: unknown receiver "pager"; define it under notify.receivers`,
		`testdata/notify_routes.bad.yaml:9: notify.routes[1].match.bad-label: "bad-label" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)`,
		`testdata/notify_routes.bad.yaml:10: notify.routes[1].match_re.device: invalid regular expression "[a-z": missing closing ]`,
		`testdata/notify_routes.bad.yaml:10: notify.routes[1].match_re.site: invalid regular expression "q-(": missing closing )`,
		`testdata/notify_routes.bad.yaml:11: notify.routes[2].receiver: is required`,
		`testdata/notify_routes.bad.yaml:12: notify.default_receiver: unknown receiver "nobody"; define it under notify.receivers`,
	}},
	{"notify_receivers.bad.yaml", []string{
		`testdata/notify_receivers.bad.yaml:5: notify.receivers[1].name: duplicate receiver name "oncall" (also notify.receivers[0])`,
		`testdata/notify_receivers.bad.yaml:6: notify.receivers[1].url: scheme must be http or https; got "ftp"`,
		`testdata/notify_receivers.bad.yaml:7: notify.receivers[2].name: must match [a-z0-9_-]+ and be at most 64 characters; got "Pager.Duty"`,
		`testdata/notify_receivers.bad.yaml:7: notify.receivers[2].telegram_chat_id: is required for format telegram`,
		`testdata/notify_receivers.bad.yaml:8: notify.receivers[2].url: host 127.0.0.1 is a loopback address; set allow_private: true to deliver to internal addresses`,
		`testdata/notify_receivers.bad.yaml:11: notify.receivers[3].url: must not contain credentials; use headers (e.g. Authorization) instead`,
		`testdata/notify_receivers.bad.yaml:14: notify.receivers[4].url: host ::1 is a loopback address; set allow_private: true to deliver to internal addresses`,
		`testdata/notify_receivers.bad.yaml:15: notify.receivers[4].template: is only used with format template; got format "slack"`,
		`testdata/notify_receivers.bad.yaml:19: notify.receivers[5].format: must be one of citywatch, alertmanager, alertmanager_api, slack, teams, teams_messagecard, telegram, zalo, template, mqtt; got "pagerduty"`,
		`testdata/notify_receivers.bad.yaml:20: notify.receivers[5].timeout: must be > 0; got "0s"`,
		`testdata/notify_receivers.bad.yaml:21: notify.receivers[5].max_concurrency: must be between 1 and 256; got 300`,
		`testdata/notify_receivers.bad.yaml:22: notify.receivers[5].telegram_chat_id: is only used with format telegram; got format "pagerduty"`,
		`testdata/notify_receivers.bad.yaml:25: notify.receivers[6].content_type: must be a media type like "application/json" or "text/plain; charset=utf-8"; got "not a type"`,
		`testdata/notify_receivers.bad.yaml:26: notify.receivers[6].secrets[0]: must be at least 16 bytes`,
		`testdata/notify_receivers.bad.yaml:26: notify.receivers[6].secrets[1]: is not valid base64 after "whsec_"`,
		`testdata/notify_receivers.bad.yaml:26: notify.receivers[6].secrets[2]: must decode to at least 16 bytes after "whsec_"`,
		`testdata/notify_receivers.bad.yaml:27: notify.receivers[6].headers."Bad Header": "Bad Header" is not a valid HTTP header name`,
		`testdata/notify_receivers.bad.yaml:27: notify.receivers[6].headers.Host: header "Host" is set by citywatch and cannot be overridden`,
		`testdata/notify_receivers.bad.yaml:27: notify.receivers[6].headers.X-Empty: must not be empty`,
		`testdata/notify_receivers.bad.yaml:28: notify.receivers[7].name: is required`,
	}},
	{"notify_template.bad.yaml", []string{
		// The first template is a literal block: the error points at the line of the template inside the file.
		`testdata/notify_template.bad.yaml:8: notify.receivers[0].template: invalid template (template line 2): function "humanize" not defined`,
		`testdata/notify_template.bad.yaml:12: notify.receivers[1].template: invalid template (template line 1): unexpected EOF`,
		`testdata/notify_template.bad.yaml:13: notify.receivers[2].template: is required for format template`,
	}},
	{"notify_secret_files.bad.yaml", []string{
		`testdata/notify_secret_files.bad.yaml:4: notify.receivers[0].url_file: file "testdata/secrets/does-not-exist" does not exist`,
		`testdata/notify_secret_files.bad.yaml:5: notify.receivers[0].secret_files[1]: file "testdata/secrets/empty.password" is empty`,
		`testdata/notify_secret_files.bad.yaml:7: notify.receivers[0].header_files.X-Key: file "testdata/secrets/missing" does not exist`,
		`testdata/notify_secret_files.bad.yaml:7: notify.receivers[0].header_files.authorization: header "authorization" is also set by notify.receivers[0].headers.Authorization`,
		`testdata/notify_secret_files.bad.yaml:10: notify.receivers[1].url_file: url and url_file are both set; set only one`,
	}},
	{"alerts_bad.bad.yaml", []string{
		`testdata/alerts_bad.bad.yaml:2: alerts.eval_interval: must be > 0; got "0s"`,
		`testdata/alerts_bad.bad.yaml:3: alerts.rule_files[0]: file "testdata/rules/missing.yaml" does not exist`,
		`testdata/alerts_bad.bad.yaml:3: alerts.rule_files[2]: duplicate rule file "testdata/rules/fever.rules.yaml" (also alerts.rule_files[1])`,
		`testdata/alerts_bad.bad.yaml:3: alerts.rule_files[3]: "testdata/rules" is a directory, not a file`,
		`testdata/alerts_bad.bad.yaml:4: alerts.external_url: must be an absolute http or https URL like "https://citywatch.example"; got "ftp://citywatch.example"`,
		`testdata/alerts_bad.bad.yaml:5: alerts.group_by[2]: duplicate label "alertname"`,
		`testdata/alerts_bad.bad.yaml:5: alerts.group_by[3]: "bad-label" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)`,
		`testdata/alerts_bad.bad.yaml:6: alerts.group_wait: must be >= 0 (0 sends at once); got "-1s"`,
		`testdata/alerts_bad.bad.yaml:8: alerts.repeat_interval: must be >= group_interval (10m); got "5m"`,
		`testdata/alerts_bad.bad.yaml:9: alerts.canary.fallback_receiver: is required when the canary is enabled (who is told when notifications stop working)`,
		`testdata/alerts_bad.bad.yaml:11: alerts.canary.interval: must be > 0; got "0s"`,
	}},
	{"alerts_flap.bad.yaml", []string{
		`testdata/alerts_flap.bad.yaml:3: alerts.flap.count: must be >= 0 (0 turns flap detection off); got -2`,
		`testdata/alerts_flap.bad.yaml:4: alerts.flap.window: must be > 0; got "0s"`,
		`testdata/alerts_flap.bad.yaml:5: alerts.flap.notify: must be "transitions" or "none"; got "always"`,
	}},
	{"alerts_auth_misc.bad.yaml", []string{
		`testdata/alerts_auth_misc.bad.yaml:2: alerts.external_url: must not have a query or fragment; got "https://citywatch.example/?x=1"`,
		`testdata/alerts_auth_misc.bad.yaml:5: alerts.canary.fallback_receiver: unknown receiver "oncall"; define it under notify.receivers`,
		`testdata/alerts_auth_misc.bad.yaml:8: auth.admin_token_file: admin_token and admin_token_file are both set; set only one`,
		`testdata/alerts_auth_misc.bad.yaml:9: auth.secure_cookies: must be true or false; got "yes"`,
	}},
	{"auth_bad.bad.yaml", []string{
		`testdata/auth_bad.bad.yaml:3: auth.session_max: must be >= session_idle (2h); got "1h"`,
		`testdata/auth_bad.bad.yaml:4: auth.token_ttl: must be > 0; got "0s"`,
		`testdata/auth_bad.bad.yaml:5: auth.trusted_proxies[1]: must be a CIDR like "10.0.0.0/8" or "fd00::/8"; got "10.0.0.1"; for one address write "10.0.0.1/32"`,
		`testdata/auth_bad.bad.yaml:5: auth.trusted_proxies[2]: "192.168.1.7/24" has bits set after the prefix length; did you mean "192.168.1.0/24"?`,
		`testdata/auth_bad.bad.yaml:5: auth.trusted_proxies[3]: must be a CIDR like "10.0.0.0/8" or "fd00::/8"; got "not-a-cidr"`,
		`testdata/auth_bad.bad.yaml:5: auth.trusted_proxies[4]: duplicate CIDR "10.0.0.0/8" (also auth.trusted_proxies[0])`,
		// The token is never printed, not even when it is the problem.
		`testdata/auth_bad.bad.yaml:6: auth.admin_token: must be at least 16 characters (the value is not shown)`,
	}},
	{"http_limits.bad.yaml", []string{
		`testdata/http_limits.bad.yaml:4: http.limits.max_connections_per_address: must be <= max_connections (100); got 200`,
		`testdata/http_limits.bad.yaml:5: http.limits.read_header_timeout: must be > 0; got "0s"`,
		`testdata/http_limits.bad.yaml:6: http.limits.max_body_bytes: must be >= 1KiB; got "512B"`,
		`testdata/http_limits.bad.yaml:7: http.limits.max_login_body_bytes: must be >= 1KiB and <= max_body_bytes (512B); got "2KiB"`,
		`testdata/http_limits.bad.yaml:8: http.limits.max_event_streams: must be < max_connections (100), or streams can take every connection; got 100`,
		`testdata/http_limits.bad.yaml:9: http.limits.max_event_streams_per_principal: must be >= 1; got 0`,
	}},
	{"http_query.bad.yaml", []string{
		`testdata/http_query.bad.yaml:4: http.query.max_concurrent_per_client: must be <= max_concurrent (4); got 5`,
		`testdata/http_query.bad.yaml:5: http.query.queue_wait: must be > 0; got "0s"`,
		`testdata/http_query.bad.yaml:6: http.query.max_samples: must be >= 1; got 0`,
		`testdata/http_query.bad.yaml:7: http.query.max_points: must be 1 to 11000; got 20000`,
		`testdata/http_query.bad.yaml:8: http.query.min_step: must be >= 1ms; got "100µs"`,
		`testdata/http_query.bad.yaml:9: http.query.timeout: must be > 0; got "-1s"`,
		`testdata/http_query.bad.yaml:10: http.query.rate_per_client: must be > 0 and <= 1000000 requests per second; got 0`,
		`testdata/http_query.bad.yaml:11: http.query.burst_per_client: must be 1 to 1000000; got 0`,
	}},
	{"privacy.bad.yaml", []string{
		`testdata/privacy.bad.yaml:6: cameras[0].privacy_masks[0]: zone "bed": polygon: must have 3..64 points, got 2; got "bed: 0.1,0.1 0.5,0.1"`,
		`testdata/privacy.bad.yaml:8: cameras[0].privacy_masks[2]: zone "window": polygon[1]: coordinates must be in 0..1, got [1.5, 0]; got "window: 0,0 1.5,0 1,1"`,
		`testdata/privacy.bad.yaml:10: privacy.retention_after_release: must be > 0; got "0s"`,
		`testdata/privacy.bad.yaml:11: privacy.retention_interval: must be > 0; got "-1h"`,
		`testdata/privacy.bad.yaml:14: privacy.sites.q-hotel-1.retention_after_release: must not be negative; got "-2d"`,
	}},
	{"storage_query.bad.yaml", []string{
		// The URL's password is not printed.
		`testdata/storage_query.bad.yaml:3: storage.query.url: must not contain credentials`,
		`testdata/storage_query.bad.yaml:4: storage.query.timeout: must be > 0; got "0s"`,
		`testdata/storage_query.bad.yaml:6: storage.query.bearer_token: set either username/password or bearer_token, not both`,
		`testdata/storage_query.bad.yaml:8: storage.query.headers.Authorization: use username/password or bearer_token, which are kept secret`,
		`testdata/storage_query.bad.yaml:10: storage.query.edges.edge-1: must be an http or https URL like "https://edge-1.example.org"; got "ftp://edge-1"`,
	}},
	{"auth_admin_token.bad.yaml", []string{
		`testdata/auth_admin_token.bad.yaml:2: auth.admin_token: must not contain spaces or control characters (the value is not shown)`,
	}},
	{"merge_and_alias.bad.yaml", []string{
		`testdata/merge_and_alias.bad.yaml:1: defaults: unknown key`,
		`testdata/merge_and_alias.bad.yaml:8: ingest.sources[0]: "<<" must merge a mapping or a list of mappings`,
		`testdata/merge_and_alias.bad.yaml:8: ingest.sources[0]: "<<" must merge a mapping or a list of mappings`,
	}},
	{"ward.bad.yaml", []string{
		`testdata/ward.bad.yaml:2: ward.interval: must be > 0; got "0s"`,
		`testdata/ward.bad.yaml:4: ward.signals.removed_below: must be between 20 and 37 (°C); got 40`,
		`testdata/ward.bad.yaml:5: ward.signals.motion_threshold: must be > 0 and < 1; got 2`,
		`testdata/ward.bad.yaml:8: ward.sites[0].time_zone: must be an IANA time zone such as "Europe/Prague"; got "Mars/Olympus"`,
		`testdata/ward.bad.yaml:9: ward.sites[0].rounds[0]: want a time of day HH:MM; got "8:00"`,
		`testdata/ward.bad.yaml:10: ward.sites[0].round_window: must be > 0 and at most 6h; got "7h"`,
		`testdata/ward.bad.yaml:11: ward.sites[0].night: want "HH:MM-HH:MM"; got "22:00"`,
		`testdata/ward.bad.yaml:12: ward.sites[0].fever_threshold: must be between 37 and 41 (°C); got 50`,
		`testdata/ward.bad.yaml:13: ward.sites[1].site: is listed twice; got "q-hotel-1"`,
		`testdata/ward.bad.yaml:14: ward.sites[1].rounds: must list at least one round time`,
		`testdata/ward.bad.yaml:15: ward.sites[2].site: is required`,
	}},
}

func TestBadConfigs(t *testing.T) {
	for _, tc := range badConfigs {
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := load(filepath.Join("testdata", tc.file), testEnv())
			if err == nil {
				t.Fatalf("loaded without error: %s", cfg)
			}
			if cfg != nil {
				t.Errorf("returned a Config with an error")
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want *Errors: %v", err, err)
			}
			got := strings.Split(err.Error(), "\n")
			if len(errs.List) != len(got) {
				t.Errorf("%d errors print as %d lines", len(errs.List), len(got))
			}
			if strings.Join(got, "\n") != strings.Join(tc.errs, "\n") {
				t.Errorf("errors differ\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.errs, "\n"))
			}
		})
	}
}

// TestEveryBadFileHasExpectations keeps the table and testdata in step: a bad file nobody checks is a test
// that cannot fail.
func TestEveryBadFileHasExpectations(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, tc := range badConfigs {
		if known[tc.file] {
			t.Errorf("%s is in the table twice", tc.file)
		}
		known[tc.file] = true
	}
	for _, f := range files {
		if !known[filepath.Base(f)] {
			t.Errorf("%s has no entry in badConfigs", f)
		}
	}
	if len(files) < 25 {
		t.Errorf("only %d golden bad configs", len(files))
	}
	for name := range known {
		if _, err := os.Stat(filepath.Join("testdata", name)); err != nil {
			t.Errorf("table entry without file: %v", err)
		}
	}
}

func TestGoodConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("only %d good configs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := load(f, testEnv())
			if err != nil {
				t.Fatalf("unexpected error:\n%v", err)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("Validate of a loaded config: %v", err)
			}
		})
	}
}
