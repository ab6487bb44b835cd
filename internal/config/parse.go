package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the config file at path and turns it into a Config: it
// decodes the YAML, expands ${VAR} references from lookupEnv, validates
// every value, then loads what the values name (secret and key files, the
// htpasswd and groups files, the login template) or generates an ephemeral
// key. Relative file references are resolved against the file's directory.
//
// The error, when not nil, joins every problem found (errors.Join), one per
// line, each a *Problem naming the file, the line and column, and the YAML
// path; none repeats a value from the document, so a secret expanded into
// the wrong key stays out of logs.
func Load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := readLimited(path, maxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data, filepath.Dir(path), lookupEnv, true)
}

// Validate is Load without its loading step: it reads and checks the
// document but none of the files it names, and makes no key, so what
// comes from them (Users from htpasswd_file, Token.Keys, the login
// template) is left out. For callers that need only the document's own
// values and run often, such as the health check: reading 100,000
// htpasswd users every few seconds would be work for nothing.
func Validate(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := readLimited(path, maxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data, filepath.Dir(path), lookupEnv, false)
}

// Parse is Load for a document already in memory; baseDir resolves
// relative file references. Its problems name no file.
func Parse(data []byte, baseDir string, lookupEnv func(string) (string, bool)) (*Config, error) {
	return parse("", data, baseDir, lookupEnv, true)
}

func parse(file string, data []byte, baseDir string, lookupEnv func(string) (string, bool), loadFiles bool) (*Config, error) {
	fc, structural, err := decode(data)
	if p, ok := err.(*Problem); ok {
		p.File = file
	}
	if err != nil {
		return nil, err
	}
	r := &report{file: file}
	for _, p := range structural {
		p.File = file
		r.problems = append(r.problems, p)
	}
	if fc != nil {
		cfg, todo := validate(fc, baseDir, lookupEnv, r)
		if loadFiles {
			load(cfg, todo, r)
		}
		if len(r.problems) == 0 {
			cfg.Warnings = r.warnings
			return cfg, nil
		}
	}
	problems := r.problems[:len(structural)]
	for _, p := range r.problems[len(structural):] {
		if !follows(p.(*Problem).Path, structural) {
			problems = append(problems, p)
		}
	}
	// In the order they are written, as a reader fixes them; problems of
	// no one place last.
	slices.SortStableFunc(problems, func(a, b error) int {
		pa, pb := a.(*Problem), b.(*Problem)
		if (pa.Line == 0) != (pb.Line == 0) {
			return cmp.Compare(pb.Line, pa.Line)
		}
		return cmp.Or(cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Column, pb.Column))
	})
	return nil, errors.Join(problems...)
}

// follows reports whether a problem at path may only follow from a
// structural one: it is at or below a value the decoder skipped, or in a
// list the decoder dropped an element from, whose later elements then sit
// at the wrong index.
func follows(path string, structural []*Problem) bool {
	for _, s := range structural {
		if s.skipped == nil {
			continue
		}
		base := *s.skipped
		if strings.HasSuffix(base, "]") {
			base = base[:strings.LastIndexByte(base, '[')]
		}
		if base == "" || path == base || strings.HasPrefix(path, base+".") || strings.HasPrefix(path, base+"[") {
			return true
		}
	}
	return false
}

// Problem is one thing wrong with a config: where it is and, in plain
// words, what is expected there. It never holds a value from the file.
type Problem struct {
	// File is the config file as named to Load; empty for Parse.
	File string
	// Line and Column (1-based) are where the value, or the mapping that
	// lacks a required key, was written; 0 when the problem is about no
	// one place in the file.
	Line, Column int
	// Path is the YAML path of the value, as in routes[2].upstream; empty
	// for the document as a whole.
	Path string
	// Msg says what is wrong or expected.
	Msg string
	// skipped, for a problem with the document's shape, is the path of
	// the value the decoder left unfilled because of it ("" for the whole
	// document); nil when it filled the rest.
	skipped *string
}

// Error formats the problem as file:line:col: path: message, leaving out
// what is unknown.
func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// report collects the problems and warnings of one load.
type report struct {
	file     string
	problems []error
	warnings []string
}

func (r *report) fail(path string, at position, format string, args ...any) {
	r.problems = append(r.problems, &Problem{File: r.file, Line: at.Line, Column: at.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (r *report) warn(format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// decode fills the file types from data. yaml's own decoder, with
// KnownFields, decides whether the document has the right shape; only
// when it refuses is the document walked (locate) to say where, because
// the decoder says so only in the text of its errors, and that text quotes
// values. structural holds those problems; fc is nil when the decoder
// stopped before filling it. err is for an empty document or a syntax
// error, which the parser reports with its own line and fixed wording.
func decode(data []byte) (fc *fileConfig, structural []*Problem, err error) {
	fc = new(fileConfig)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	derr := dec.Decode(fc)
	if derr == nil {
		// Only the first document is read: anything after a "---" would
		// look like config and change nothing (a default_deny appended
		// there would never apply).
		for {
			var next yaml.Node
			switch err := dec.Decode(&next); {
			case err == io.EOF:
				return fc, nil, nil
			case err == nil && len(next.Content) == 1 && isNull(next.Content[0]):
				continue // an empty document, after a trailing "---", reads as nothing
			case err == nil && len(next.Content) > 0:
				return nil, nil, fmt.Errorf("line %d: a second YAML document: the config is one document, and nothing after \"---\" would be read", next.Content[0].Line)
			default:
				return nil, nil, errors.New("a second YAML document follows the first: the config is one document, and nothing after \"---\" would be read")
			}
		}
	}
	if derr == io.EOF {
		return nil, nil, errors.New("config is empty")
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		if p := tabIndent(data); p != nil {
			return nil, nil, p
		}
		return nil, nil, fmt.Errorf("parse config: %w", err)
	}
	structural = locate(&root)
	if len(structural) == 0 {
		// The decoder refused what the walk found nothing wrong with; refuse
		// too rather than use a half-decoded document. Its message is not
		// used: it may quote a value.
		structural = []*Problem{{Msg: "cannot be decoded; check its anchors, aliases and tags", skipped: new(string)}}
	}
	var te *yaml.TypeError
	if !errors.As(derr, &te) {
		// Not a *TypeError: the decoder stopped part way (excessive
		// aliasing, an alias that contains itself) and fc is incomplete.
		return nil, structural, nil
	}
	return fc, structural, nil
}

// tabIndent finds the tab in a line's indentation that keeps data from
// parsing, the commonest YAML mistake, which the parser reports on the
// line before (where the token it was reading began) and in its own
// words. The parser stays the judge: the tab is blamed only when the
// lines before it parse and the document up to the end of its line does
// not. A few candidates are tried: a tab inside a block scalar's text is
// no mistake.
func tabIndent(data []byte) *Problem {
	const maxCandidates = 8
	offset, candidates := 0, 0
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		start := offset
		offset += len(line)
		indent := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
		tab := bytes.IndexByte(indent, '\t')
		if tab < 0 {
			continue
		}
		if candidates++; candidates > maxCandidates {
			return nil
		}
		var n yaml.Node
		if yaml.Unmarshal(data[:start], &n) == nil && yaml.Unmarshal(data[:offset], &n) != nil {
			return &Problem{Line: i + 1, Column: tab + 1, Msg: "a tab indents this line: YAML indents with spaces only"}
		}
	}
	return nil
}

// shapeWalk locates what the decoder refused: keys the file types do not
// have, keys set twice, and a mapping, list or single value where another
// belongs. Values in yaml.Node fields are left to validation.
//
// It needs each file type's keys, which yaml.v3 keeps to itself (its field
// table is unexported and KnownFields answers only for a whole stream, in
// the text of an error), so it reads the same yaml struct tags the decoder
// reads (yamlKeys) and follows the decoder's rules for merge keys. The
// decoder stays the judge: the walk runs only once it has refused, and a
// refusal the walk cannot place is still reported. FuzzLoad checks that
// the two agree.
type shapeWalk struct {
	problems []*Problem
	// seen holds what was already walked. Aliases make the document a
	// graph; walking each node once per type bounds the work by the
	// document's size, however aliases nest, and stops at a cycle.
	seen map[shapeVisit]bool
}

type shapeVisit struct {
	n      *yaml.Node
	t      reflect.Type
	merged bool
}

func locate(root *yaml.Node) []*Problem {
	w := &shapeWalk{seen: map[shapeVisit]bool{}}
	for _, doc := range root.Content {
		w.walk(doc, reflect.TypeFor[fileConfig](), "", doc, nil)
	}
	return w.problems
}

// fail reports a problem at path, written at at; skipped is as in Problem.
func (w *shapeWalk) fail(path string, at *yaml.Node, msg string, skipped *string) {
	w.problems = append(w.problems, &Problem{Line: at.Line, Column: at.Column, Path: path, Msg: msg, skipped: skipped})
}

// walk checks n against t. at is where n was written: the alias, when n is
// reached through one. merged, when not nil, holds the keys already set
// where n is merged in (<<), which the decoder skips in n.
func (w *shapeWalk) walk(n *yaml.Node, t reflect.Type, path string, at *yaml.Node, merged map[string]bool) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	visit := shapeVisit{n, t, merged != nil}
	if t == reflect.TypeFor[yaml.Node]() || isNull(n) || w.seen[visit] {
		return
	}
	w.seen[visit] = true
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.fail(path, at, "must be a mapping, not "+describe(n), &path)
			return
		}
		w.mapping(n, t, path, merged)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.fail(path, at, "must be a list, not "+describe(n), &path)
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), indexPath(path, i), c, nil)
		}
	}
}

func (w *shapeWalk) mapping(n *yaml.Node, t reflect.Type, path string, merged map[string]bool) {
	// The decoder refuses a mapping that repeats a key as written (the
	// same kind and text, before quotes and aliases are resolved), and
	// then decodes none of it.
	type written struct {
		kind  yaml.Kind
		value string
	}
	raw := map[written]int{}
	repeated := map[*yaml.Node]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if line, dup := raw[written{k.Kind, k.Value}]; dup && k.Kind != yaml.MappingNode && k.Kind != yaml.SequenceNode {
			name := k.Value
			if s := ""; k.Decode(&s) == nil && !isNull(k) {
				name = s // an alias's name is not the key's
			}
			w.fail(childPath(path, name), k, "is already set on line "+strconv.Itoa(line), &path)
			repeated[k] = true
		} else if !dup {
			raw[written{k.Kind, k.Value}] = k.Line
		}
	}
	keys := yamlKeys(t)
	first := map[string]int{}
	var merge, mergeKey *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if repeated[k] {
			continue
		}
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge") {
			merge, mergeKey = v, k
			continue
		}
		var name string
		if err := k.Decode(&name); err != nil {
			w.fail(path, k, "keys must be plain names, not "+describe(k), nil)
			continue
		}
		if isNull(k) {
			continue // the decoder skips a null key
		}
		p := childPath(path, name)
		if merged != nil {
			// In a merged mapping the first of each key counts, and only if
			// the mappings it is merged into do not set it.
			if merged[name] {
				continue
			}
			merged[name] = true
		} else if line, dup := first[name]; dup && keys[name] != nil {
			// Written differently (an alias, say), but the same field.
			w.fail(p, k, "is already set on line "+strconv.Itoa(line), nil)
			continue
		}
		first[name] = k.Line
		ft, ok := keys[name]
		if !ok {
			msg := "unknown key"
			if near := closest(name, keys); near != "" {
				// A key the config accepts, never a document value.
				msg += fmt.Sprintf("; did you mean %q?", near)
			}
			w.fail(p, k, msg, nil)
			continue
		}
		w.walk(v, ft, p, v, nil)
	}
	if merge == nil {
		return
	}
	if merged == nil {
		merged = map[string]bool{}
		for name := range first {
			merged[name] = true
		}
	}
	list := []*yaml.Node{merge}
	if merge.Kind == yaml.SequenceNode {
		list = merge.Content
	}
	for _, m := range list {
		target := m
		if m.Kind == yaml.AliasNode && m.Alias != nil {
			target = m.Alias
		}
		if target.Kind != yaml.MappingNode {
			w.fail(childPath(path, mergeKey.Value), m, "must be a mapping or a list of mappings", nil)
			continue
		}
		w.walk(m, t, path, m, merged)
	}
}

// yamlKeys maps each key a file type accepts to its field's type, read
// from the yaml tags as the decoder reads them; the inline position field
// names no key.
func yamlKeys(t reflect.Type) map[string]reflect.Type {
	keys := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys[name] = f.Type
		}
	}
	return keys
}

func isNull(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names the kind of value n is, never the value itself.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
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
	case "!!null":
		return "empty"
	default:
		return "a value tagged " + n.ShortTag()
	}
}

// childPath appends a mapping key to a YAML path. A key that is not a
// plain name is quoted, so that a path reads one way and a key cannot put
// a line break or a terminal escape into a message.
func childPath(parent, key string) string {
	if !plainKey(key) {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func plainKey(k string) bool {
	for i := range len(k) {
		c := k[i]
		if !(c == '_' || c == '-' || c == '<' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return k != ""
}

// indexPath appends a list index to a YAML path.
func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// expandEnv replaces each ${NAME} with the variable's value. Only that form
// is special: a bare $ stays literal because bcrypt hashes are full of them.
func expandEnv(s string, lookupEnv func(string) (string, bool)) (string, error) {
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
			return "", errors.New("unterminated ${ in value")
		}
		name := s[start+2 : start+end]
		if !validEnvName(name) {
			// Not quoted back: what follows ${ in a literal value may be
			// part of a secret.
			return "", errors.New("invalid environment variable name in ${...}: use letters, digits and _")
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

// closest is the accepted key nearest to name, when a typo could explain
// the difference (at most 2 edits, and fewer than half of name's length);
// "" otherwise.
func closest[T any](name string, keys map[string]T) string {
	best, bestDist := "", 3
	for k := range keys {
		if d := editDistance(name, k); d < bestDist || d == bestDist && best != "" && k < best {
			best, bestDist = k, d
		}
	}
	if best == "" || 2*bestDist >= len(name) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, by bytes.
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
