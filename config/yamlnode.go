package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// childPath appends a mapping key or sequence index to a YAML path.
func childPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// expandNode expands ${VAR} in every scalar value below n (keys are left
// alone). Expanding parsed scalars rather than the raw text means a variable's
// value can never change the document's structure, whatever it contains.
func expandNode(n *yaml.Node, path string, lookupEnv func(string) (string, bool), problems *[]error) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = indexPath(path, i)
			}
			expandNode(c, p, lookupEnv, problems)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			expandNode(n.Content[i+1], childPath(path, n.Content[i].Value), lookupEnv, problems)
		}
	case yaml.ScalarNode:
		v, err := expandEnv(n.Value, lookupEnv)
		if err != nil {
			*problems = append(*problems, problemAt(path, n.Line, err.Error()))
			return
		}
		n.Value = v
	}
}

// expandEnv replaces each ${NAME} with the variable's value. Only that form
// is special: a bare $ stays literal because bcrypt hashes are full of them.
func expandEnv(s string, lookupEnv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		start := strings.Index(s, "${")
		if start < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:start])
		end := strings.IndexByte(s[start:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in value")
		}
		name := s[start+2 : start+end]
		if !validEnvName(name) {
			// Not quoted back: what follows ${ in a literal value may be
			// part of a secret.
			return "", fmt.Errorf("invalid environment variable name in ${...}: use letters, digits and _")
		}
		val, ok := lookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(val)
		s = s[start+end+1:]
	}
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkNode reports every place where the document below n does not fit
// the Go type t, with its YAML path and line: an unknown or repeated key, a
// mapping or list where the other or a single value belongs, or a value the
// decoder cannot turn into t. Each message is built from the node's kind
// and tag and from t, never from the decoder's error text, which quotes
// the start of the offending value: a ${VAR} expanded into the wrong place
// may hold a secret.
func checkNode(n *yaml.Node, t reflect.Type, path string, problems *[]error, depth int) {
	if depth > 32 {
		*problems = append(*problems, problem(path, "nested too deeply"))
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	line, v := n.Line, n
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			checkNode(c, t, path, problems, depth+1)
		}
		return
	case yaml.AliasNode:
		if n.Alias == nil {
			return
		}
		v = n.Alias
	}
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		return // an empty value leaves the field at its default
	}
	switch t.Kind() {
	case reflect.Struct:
		if v.Kind != yaml.MappingNode {
			*problems = append(*problems, wrongType(path, line, t, v))
			return
		}
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			key, val := v.Content[i], v.Content[i+1]
			if key.Kind != yaml.ScalarNode {
				*problems = append(*problems, problemAt(path, key.Line, "keys must be plain names"))
				continue
			}
			p := childPath(path, key.Value)
			if first, dup := seen[key.Value]; dup {
				*problems = append(*problems, problemAt(p, key.Line, fmt.Sprintf("is already set on line %d", first)))
				continue
			}
			seen[key.Value] = key.Line
			ft, ok := fields[key.Value]
			if !ok {
				*problems = append(*problems, problemAt(p, key.Line, "unknown key"))
				continue
			}
			checkNode(val, ft, p, problems, depth+1)
		}
	case reflect.Slice:
		if v.Kind != yaml.SequenceNode {
			*problems = append(*problems, wrongType(path, line, t, v))
			return
		}
		for i, c := range v.Content {
			checkNode(c, t.Elem(), indexPath(path, i), problems, depth+1)
		}
	default:
		// The decoder itself decides whether a scalar fits (its rules for
		// quoting, tags and number forms are many); only whether it
		// failed is used.
		if v.Kind != yaml.ScalarNode || v.Decode(reflect.New(t).Interface()) != nil {
			*problems = append(*problems, wrongType(path, line, t, v))
		}
	}
}

// wrongType says what the value at path must be and what kind of value it
// is, without the value itself.
func wrongType(path string, line int, t reflect.Type, n *yaml.Node) error {
	want, got := describeType(t), describeNode(n)
	msg := "must be " + want
	if got != want {
		msg += ", not " + got
	}
	return problemAt(path, line, msg)
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	default:
		return "a single value"
	}
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!str":
		return "text"
	case "!!int":
		return "a whole number"
	case "!!float":
		return "a decimal number"
	case "!!bool":
		return "true or false"
	default:
		return "a value tagged " + n.ShortTag()
	}
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = f.Type
		}
	}
	return fields
}
