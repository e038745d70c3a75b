package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the YAML nodes decoded, counting every alias expansion, so that a small file of nested
// aliases ("billion laughs") cannot make Parse run for ever.
const maxNodes = 100_000

var (
	durationType = reflect.TypeOf(Duration(0))
	byteSizeType = reflect.TypeOf(ByteSize(0))
	secretType   = reflect.TypeOf(Secret(""))
)

// decoder walks a yaml.Node tree into a Config by reflection on yaml tags, strictly: unknown keys, duplicate
// keys and wrong types are errors with the line of the node. It expands ${ENV} in every scalar value.
type decoder struct {
	sink     *errorSink
	dir      string // directory of the config file; relative *_file paths are joined to it
	lookup   func(string) (string, bool)
	budget   int
	exceeded bool
}

func (d *decoder) fail(line int, path, msg string) {
	if d.exceeded {
		return // the file is too large to be worth more errors
	}
	d.sink.at(line, path, msg)
	d.sink.failed[path] = true
}

// resolve follows aliases and charges the node budget. It returns nil when the budget is spent.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if n.Alias == nil || hops > 100 {
			d.fail(n.Line, path, "unresolved alias")
			return nil
		}
		n = n.Alias
	}
	if n == nil || !d.charge(n.Line, path) {
		return nil
	}
	return n
}

// charge spends one unit of the node budget, reporting false (and the error, once) when it is spent.
func (d *decoder) charge(line int, path string) bool {
	d.budget--
	if d.budget >= 0 {
		return true
	}
	if !d.exceeded {
		d.sink.fatal = &Error{File: d.sink.file, Line: line, Path: path,
			Msg: fmt.Sprintf("configuration too large: more than %d values (after expanding aliases)", maxNodes)}
		d.sink.failed[path] = true
		d.exceeded = true
	}
	return false
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe says what a node is, for "got ..." in type errors. Secrets are never described by value.
func describe(n *yaml.Node, secret bool) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if secret {
			return "a scalar"
		}
		return quote(n.Value)
	}
	return "nothing"
}

func (d *decoder) typeErr(n *yaml.Node, path, want string, secret bool) {
	if path == "" {
		d.fail(n.Line, path, "the top level must be a mapping of keys; got "+describe(n, false))
		return
	}
	d.fail(n.Line, path, "must be "+want+"; got "+describe(n, secret))
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n = d.resolve(n, path); n == nil || isNull(n) {
		return // a null value keeps the default
	}
	t := v.Type()
	switch t {
	case durationType:
		d.scalar(n, path, "a duration", func(s, _ string) (string, bool) {
			x, err := ParseDuration(s)
			if err != nil {
				return `must be a duration like "10s", "1h30m" or "15d"; got ` + quote(s), false
			}
			v.SetInt(int64(x))
			return "", true
		})
		return
	case byteSizeType:
		d.scalar(n, path, "a byte size", func(s, _ string) (string, bool) {
			x, err := ParseByteSize(s)
			if err != nil || x < 0 {
				return `must be a byte size like "512MiB", "1GB" or a number of bytes; got ` + quote(s), false
			}
			v.SetInt(int64(x))
			return "", true
		})
		return
	case secretType:
		if n.Kind != yaml.ScalarNode {
			d.typeErr(n, path, "a string", true)
			return
		}
		if s, _, ok := d.text(n, path); ok {
			v.SetString(s)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if p.Elem().Kind() == reflect.Bool {
			p.Elem().SetBool(v.IsNil() || v.Elem().Bool())
		}
		d.decode(n, p.Elem(), path)
		if !d.sink.failed[path] {
			v.Set(p)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.typeErr(n, path, "a string", false)
			return
		}
		if s, _, ok := d.text(n, path); ok {
			v.SetString(s)
		}
		if n.Style&yaml.LiteralStyle != 0 {
			d.sink.blocks[path] = n.Line + 1
		}
	case reflect.Bool:
		d.scalar(n, path, "true or false", func(s, tag string) (string, bool) {
			var b bool
			if tag != "!!bool" || (&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s}).Decode(&b) != nil {
				return "must be true or false; got " + quote(s), false
			}
			v.SetBool(b)
			return "", true
		})
	case reflect.Int, reflect.Int64:
		d.scalar(n, path, "an integer", func(s, tag string) (string, bool) {
			var x int64
			if tag != "!!int" || (&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s}).Decode(&x) != nil || v.OverflowInt(x) {
				return "must be an integer; got " + quote(s), false
			}
			v.SetInt(x)
			return "", true
		})
	case reflect.Float64:
		d.scalar(n, path, "a number", func(s, tag string) (string, bool) {
			var x float64
			if (tag != "!!int" && tag != "!!float") || (&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s}).Decode(&x) != nil {
				return "must be a number; got " + quote(s), false
			}
			v.SetFloat(x)
			return "", true
		})
	default:
		// Unreachable for the Config types; guards against a new field type nobody taught the decoder.
		d.fail(n.Line, path, fmt.Sprintf("internal error: cannot decode into %s", t))
	}
}

// text returns the env-expanded text of a scalar, and whether a variable was substituted.
func (d *decoder) text(n *yaml.Node, path string) (string, bool, bool) {
	s, sub, errs := expandEnv(n.Value, d.lookup)
	for _, err := range errs {
		d.fail(n.Line, path, err.Error())
	}
	return s, sub, len(errs) == 0
}

// scalar decodes a scalar node with set, which gets the expanded text and its YAML tag (a quoted "5" is a
// string; the result of a ${VAR} substitution is typed like a plain scalar) and returns an error message.
func (d *decoder) scalar(n *yaml.Node, path, want string, set func(s, tag string) (string, bool)) {
	if n.Kind != yaml.ScalarNode {
		d.typeErr(n, path, want, false)
		return
	}
	s, sub, ok := d.text(n, path)
	if !ok {
		return
	}
	tag := n.ShortTag()
	if sub {
		tag = (&yaml.Node{Kind: yaml.ScalarNode, Value: s}).ShortTag()
	}
	if msg, ok := set(s, tag); !ok {
		if !sub && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			if _, plainOK := set(s, (&yaml.Node{Kind: yaml.ScalarNode, Value: s}).ShortTag()); plainOK {
				msg += " (quotes make it a string; remove them)"
			}
		}
		d.fail(n.Line, path, msg)
	}
}

// entry is one key/value of a mapping.
type entry struct {
	key, val *yaml.Node
}

// entries lists the key/values of a mapping with "<<" merges expanded first (explicit keys override merged
// ones, earlier merge sources override later ones), reporting duplicate explicit keys.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	var out, merged []entry
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content) && !d.exceeded; i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeSources(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k.Line, path, "keys must be strings; got "+describe(k, false))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k.Line, joinPath(path, k.Value), fmt.Sprintf("duplicate key (first set at line %d)", first))
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, entry{key: k, val: val})
	}
	return append(merged, out...)
}

// mergeSources expands the value of a "<<" key: a mapping or a list of mappings, lowest precedence first.
func (d *decoder) mergeSources(val *yaml.Node, path string) []entry {
	if val = d.resolve(val, path); val == nil {
		return nil
	}
	var sources []*yaml.Node
	switch val.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{val}
	case yaml.SequenceNode:
		for i := len(val.Content) - 1; i >= 0; i-- {
			if m := d.resolve(val.Content[i], path); m != nil {
				sources = append(sources, m)
			}
		}
	}
	var out []entry
	for _, m := range sources {
		if m.Kind != yaml.MappingNode {
			d.fail(m.Line, path, `"<<" must merge a mapping or a list of mappings`)
			continue
		}
		for _, e := range d.entries(m, path) {
			if !d.charge(e.key.Line, path) {
				return out
			}
			out = append(out, e)
		}
	}
	return out
}

// structFields maps yaml keys to field indexes.
func structFields(t reflect.Type) (map[string]int, []string) {
	m := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		m[name] = i
		names = append(names, name)
	}
	return m, names
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typeErr(n, path, "a mapping", false)
		return
	}
	fields, names := structFields(v.Type())
	// YAML merge semantics: a key of higher precedence replaces a merged value as a whole (it is not merged
	// into it), so keep the values from before the mapping to start each replacement from.
	before := reflect.New(v.Type()).Elem()
	before.Set(v)
	set := map[int]bool{}
	for _, e := range d.entries(n, path) {
		if d.exceeded {
			return
		}
		key := e.key.Value
		p := joinPath(path, key)
		i, ok := fields[key]
		if !ok {
			msg := "unknown key"
			if s := suggest(key, names); s != "" {
				msg += "; did you mean " + quote(s) + "?"
			}
			d.fail(e.key.Line, p, msg)
			continue
		}
		d.sink.lines[p] = e.key.Line
		f := v.Field(i)
		if set[i] {
			f.Set(before.Field(i))
		}
		set[i] = true
		d.decode(e.val, f, p)
		// Files are relative to the directory of the configuration file, as in Prometheus.
		if strings.HasSuffix(key, "_file") || strings.HasSuffix(key, "_files") {
			d.resolveFiles(f)
		}
	}
	d.checkSecretPairs(v, path, names, fields)
}

// resolveFiles joins the relative file paths in f (a string, a list of strings or a map of strings) to the
// directory of the configuration file.
func (d *decoder) resolveFiles(f reflect.Value) {
	if d.dir == "" {
		return
	}
	join := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(d.dir, p)
	}
	switch {
	case f.Kind() == reflect.String:
		f.SetString(join(f.String()))
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		for i := 0; i < f.Len(); i++ {
			f.Index(i).SetString(join(f.Index(i).String()))
		}
	case f.Kind() == reflect.Map && f.Type().Elem().Kind() == reflect.String && !f.IsNil():
		for _, k := range f.MapKeys() {
			f.SetMapIndex(k, reflect.ValueOf(join(f.MapIndex(k).String())))
		}
	}
}

// checkSecretPairs reports a secret set both inline and through its *_file key.
func (d *decoder) checkSecretPairs(v reflect.Value, path string, names []string, fields map[string]int) {
	for _, name := range names {
		f := v.Field(fields[name])
		if f.Type() != secretType {
			continue
		}
		fi, ok := fields[name+"_file"]
		if !ok {
			continue
		}
		if f.String() != "" && v.Field(fi).String() != "" {
			p := joinPath(path, name+"_file")
			d.sink.at(d.sink.lineOf(p), p, fmt.Sprintf("%s and %s_file are both set; set only one", name, name))
			d.sink.failed[joinPath(path, name)] = true
		}
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.typeErr(n, path, "a list", false)
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		p := indexPath(path, i)
		d.sink.lines[p] = item.Line
		e := reflect.New(v.Type().Elem()).Elem()
		e.Set(elemDefault(v.Type().Elem()))
		d.decode(item, e, p)
		out = reflect.Append(out, e)
	}
	v.Set(out)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typeErr(n, path, "a mapping", false)
		return
	}
	out := reflect.MakeMap(v.Type())
	for _, e := range d.entries(n, path) {
		p := joinPath(path, e.key.Value)
		d.sink.lines[p] = e.key.Line
		val := reflect.New(v.Type().Elem()).Elem()
		val.Set(elemDefault(v.Type().Elem()))
		d.decode(e.val, val, p)
		out.SetMapIndex(reflect.ValueOf(e.key.Value), val)
	}
	v.Set(out)
}

// suggest returns the known key closest to key, if it is close enough to be a likely typo.
func suggest(key string, known []string) string {
	best, bestD := "", 3
	if len(key) > 64 {
		return ""
	}
	for _, k := range known {
		if dist := editDistance(key, k); dist < bestD {
			best, bestD = k, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
