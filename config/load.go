package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxConfigSize bounds the configuration file read by Load.
const maxConfigSize = 16 << 20

// Load reads, decodes and validates the configuration file at path. Problems in the file are returned together
// as *Errors ("path:line: key.path: message", one per line); a file that cannot be read gives a plain error.
func Load(path string) (*Config, error) {
	return load(path, processEnv())
}

func load(path string, e environment) (*Config, error) {
	data, err := readSmallFile(osFS{}, path, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(data, path, e)
}

// Parse decodes and validates a configuration. filename is used in error messages, and its directory is the
// base of relative *_file paths ("" leaves them relative to the working directory). It expands ${ENV} from the
// process environment, reads *_file secrets, fills derived defaults and validates everything, returning all
// problems as *Errors.
func Parse(data []byte, filename string) (*Config, error) {
	return parse(data, filename, processEnv())
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parse(data []byte, filename string, e environment) (*Config, error) {
	sink := newErrorSink(filename)
	cfg := Default()
	dir := ""
	if filename != "" {
		if dir = filepath.Dir(filename); dir == "." {
			dir = ""
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		// An empty file is all defaults.
	case err != nil:
		yamlError(sink, err)
		return nil, sink.err()
	default:
		var extra yaml.Node
		if err := dec.Decode(&extra); err == nil {
			sink.at(extra.Line, "", "the file holds more than one YAML document; use one")
		} else if !errors.Is(err, io.EOF) {
			yamlError(sink, err)
		}
		if len(doc.Content) > 0 {
			d := &decoder{sink: sink, dir: dir, lookup: e.lookup, budget: maxNodes}
			d.decode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
		}
	}
	cfg.finish(sink, e)
	if err := sink.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// yamlError turns a YAML syntax error ("yaml: line 3: ...") into an Error with that line.
func yamlError(sink *errorSink, err error) {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	sink.at(line, "", "invalid YAML: "+strings.ReplaceAll(msg, "\n", " "))
	sink.failed[""] = true
}

// String renders the configuration as YAML with every default and derived value shown and every secret
// redacted ("<redacted>"), for `citywatch check --print`. The output never holds a secret.
func (c *Config) String() string {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return "# cannot render configuration: " + err.Error() + "\n"
	}
	_ = enc.Close()
	return b.String()
}
