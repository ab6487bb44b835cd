package config

import (
	"fmt"
	"reflect"
	"regexp"
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
			*problems = append(*problems, problem(path, err.Error()))
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
			return "", fmt.Errorf("invalid environment variable name %q", name)
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

// checkKeys reports every mapping key below n that has no field in t, with
// its YAML path, and records the path of every node by line so that the
// decoder's line-numbered type errors can be reported by path too.
func checkKeys(n *yaml.Node, t reflect.Type, path string, lines map[int]string, problems *[]error, depth int) {
	if depth > 32 {
		*problems = append(*problems, problem(path, "nested too deeply"))
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if _, seen := lines[n.Line]; !seen && path != "" {
		lines[n.Line] = path
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			checkKeys(c, t, path, lines, problems, depth+1)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			checkKeys(n.Alias, t, path, lines, problems, depth+1)
		}
	case yaml.MappingNode:
		if t.Kind() != reflect.Struct {
			return // the decoder reports the type mismatch
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			p := childPath(path, key.Value)
			ft, ok := fields[key.Value]
			if !ok {
				*problems = append(*problems, problem(p, "unknown key"))
				continue
			}
			lines[key.Line] = p
			checkKeys(val, ft, p, lines, problems, depth+1)
		}
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			return
		}
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), indexPath(path, i), lines, problems, depth+1)
		}
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

var decodeErrorLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// decodeProblems turns the decoder's "line N: ..." messages into problems
// that name the YAML path instead, falling back to the line number.
func decodeProblems(err error, lines map[int]string) []error {
	te, ok := err.(*yaml.TypeError)
	if !ok {
		return []error{fmt.Errorf("parse: %w", err)}
	}
	var out []error
	for _, msg := range te.Errors {
		m := decodeErrorLine.FindStringSubmatch(msg)
		if m == nil {
			out = append(out, fmt.Errorf("%s", msg))
			continue
		}
		line, _ := strconv.Atoi(m[1])
		if p, ok := lines[line]; ok {
			out = append(out, problem(p, m[2]+" (line "+m[1]+")"))
		} else {
			out = append(out, fmt.Errorf("line %s: %s", m[1], m[2]))
		}
	}
	return out
}
