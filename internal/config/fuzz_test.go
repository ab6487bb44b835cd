package config

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"go.yaml.in/yaml/v3"
)

// fuzzDir is where the fuzzed documents' relative files resolve: nowhere,
// so a run reads nothing but the document.
const fuzzDir = "/nonexistent/authgate-fuzz"

// FuzzLoad feeds random YAML to the loader. It never panics; a refused
// document yields *Problems (or, for a syntax error, the parser's own
// message), each at a path the document has (or a key missing from a
// mapping it has, or the document itself) and a line it has, none
// repeated; none quotes a string value of the document or a variable's
// value. And the walk that locates shape problems agrees with the
// decoder: it places every refusal and finds nothing in what the decoder
// accepts.
func FuzzLoad(f *testing.F) {
	for _, doc := range []string{
		"listen: 127.0.0.1:8080\ntoken:\n  secret: ${S}\n",
		"routes:\n  - &r {path: /a, upstream: 'http://127.0.0.1:1', methods: [GET]}\n  - <<: *r\n    path: /b\n",
		"login:\n  throttle:\n    client: {burst: x, interval: 1h}\n",
		"users:\n  - username: alice\n    password_hash: \"" + hash10 + "\"\n    groups: [a, ~, [b]]\n",
		"token:\n  algorithm: EdDSA\n  keys:\n    - id: a\n      key_file: k.pem\n  trusted_issuers:\n    - {issuer: i, audience: a, jwks_url: 'https://i/k', algorithms: [RS256]}\n",
		"server: {max_header_bytes: ${N}, idle_timeout: 1m, gc_headroom_mib: 8}\nsession: {ttl: 1h, <<: {ttl: 2h, max_lifetime: 3h}}\n",
		"a: &a [x, x]\nb: &b [*a, *a]\nstrip_headers: *a\n",
		"? [complex]\n: key\n\"quoted.key\": 1\n~: null\n",
		"tls:\n  cert_file: a.crt\n  acme: {domains: ['*.x', 10.0.0.1, ~], storage_dir: s}\n  min_version: 1.1\n  client_auth: {username_from: uid}\nroutes:\n  - {path: /, upstream: 'http://a', tls: {ca_file: c, client_key_file: k}}\n",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(checkLoad)
}

func checkLoad(t *testing.T, data []byte) {
	{
		if len(data) > 16<<10 {
			return
		}
		var root yaml.Node
		parsed := yaml.Unmarshal(data, &root) == nil && len(root.Content) == 1

		// The walk and the decoder agree.
		fc, structural, err := decode(data)
		if err == nil && fc != nil {
			for _, p := range structural {
				if p.Path == "" && p.Line == 0 {
					t.Fatalf("the decoder refused %q with a type error the walk cannot place", data)
				}
			}
			if len(structural) == 0 && parsed {
				if found := locate(&root); len(found) > 0 {
					t.Fatalf("the decoder accepts %q, but the walk finds %v", data, found[0])
				}
			}
			// Whatever the document names is read only from fuzzDir.
			_, plan := validate(fc, fuzzDir, func(string) (string, bool) { return envSecret, true }, &report{})
			refs := []fileRef{plan.htpasswd, plan.groups, plan.template}
			for _, k := range plan.keys {
				refs = append(refs, k.src)
			}
			for _, r := range refs {
				if r.file != "" && !strings.HasPrefix(r.file, fuzzDir+string(filepath.Separator)) {
					return
				}
			}
		}

		_, err = Parse(data, fuzzDir, func(string) (string, bool) { return envSecret, true })
		checkProblems(t, data, &root, parsed, err)
		for i := 0; i+8 <= len(envSecret); i++ {
			if w := envSecret[i : i+8]; err != nil && strings.Contains(err.Error(), w) && !strings.Contains(string(data), w) {
				t.Fatalf("Parse(%q) quotes a variable's value:\n%v", data, err)
			}
		}

		// Again with every unanchored string value replaced by a marker:
		// no marker may come back in a problem.
		if !parsed {
			return
		}
		markers := markValues(&root)
		marked, merr := yaml.Marshal(&root)
		if merr != nil || len(markers) == 0 {
			return
		}
		_, err = Parse(marked, fuzzDir, func(string) (string, bool) { return envSecret, true })
		if err == nil {
			return
		}
		for _, m := range markers {
			if strings.Contains(err.Error(), m) && !strings.Contains(string(data), m) {
				t.Fatalf("Parse(%q) quotes the value %s:\n%v", marked, m, err)
			}
		}
	}
}

// checkProblems asserts that each problem in err is a *Problem at a real
// path and line of data, and that none is reported twice.
func checkProblems(t *testing.T, data []byte, root *yaml.Node, parsed bool, err error) {
	t.Helper()
	var joined interface{ Unwrap() []error }
	if err == nil || !errors.As(err, &joined) {
		return // accepted, or a syntax error or an empty document
	}
	// YAML breaks lines at CR LF, CR, LF, NEL, LS and PS, counted in the
	// text as decoded (a BOM may say UTF-16).
	lines := strings.Count(strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u0085", "\n", "\u2028", "\n", "\u2029", "\n").Replace(decodeText(data)), "\n") + 1
	seen := map[string]bool{}
	for _, e := range joined.Unwrap() {
		p, ok := e.(*Problem)
		if !ok {
			t.Fatalf("Parse(%q): problem %v is a %T", data, e, e)
		}
		if seen[p.Error()] {
			t.Fatalf("Parse(%q) reports %q twice", data, p.Error())
		}
		seen[p.Error()] = true
		// An empty value at the end is placed on the line after the last.
		if p.Line < 0 || p.Line > lines+1 || (p.Line > 0 && p.Column < 1) {
			t.Fatalf("Parse(%q): problem %q is at %d:%d, outside the document", data, p.Error(), p.Line, p.Column)
		}
		if parsed && !resolves(root, p.Path) {
			t.Fatalf("Parse(%q): problem %q names a path the document does not have", data, p.Error())
		}
	}
}

// decodeText returns data as text, decoding UTF-16 as the YAML reader
// does when a byte order mark says so.
func decodeText(data []byte) string {
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		order = binary.LittleEndian
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		order = binary.BigEndian
	default:
		return string(data)
	}
	units := make([]uint16, (len(data)-2)/2)
	for i := range units {
		units[i] = order.Uint16(data[2+2*i:])
	}
	return string(utf16.Decode(units))
}

// resolves reports whether path names a node of the document at root, or
// a key missing from a mapping (or empty value) the document has.
func resolves(root *yaml.Node, path string) bool {
	segs, ok := splitPath(path)
	if !ok {
		return false
	}
	n := root.Content[0]
	for i, s := range segs {
		n = deref(n)
		last := i == len(segs)-1
		if s.index >= 0 {
			if n.Kind != yaml.SequenceNode || s.index >= len(n.Content) {
				return false
			}
			n = n.Content[s.index]
			continue
		}
		if isNull(n) {
			return last
		}
		if n.Kind != yaml.MappingNode {
			return false
		}
		child := lookupKey(n, s.key)
		if child == nil {
			return last
		}
		n = child
	}
	return true
}

// lookupKey finds key in mapping n or in what n merges in, visiting each
// merged mapping once however aliases repeat it.
func lookupKey(n *yaml.Node, key string) *yaml.Node {
	queue, seen := []*yaml.Node{n}, map[*yaml.Node]bool{n: true}
	for len(queue) > 0 {
		n, queue = queue[0], queue[1:]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && key != "<<" {
				m := deref(v)
				list := []*yaml.Node{m}
				if m.Kind == yaml.SequenceNode {
					list = m.Content
				}
				for _, c := range list {
					if c = deref(c); c.Kind == yaml.MappingNode && !seen[c] {
						seen[c] = true
						queue = append(queue, c)
					}
				}
				continue
			}
			var name string
			if deref(k).Kind == yaml.ScalarNode && (k.Decode(&name) == nil && name == key || k.Value == key) {
				return v
			}
		}
	}
	return nil
}

func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

type pathSeg struct {
	key   string
	index int // -1 for a key
}

// splitPath reads a path as childPath and indexPath write it.
func splitPath(path string) ([]pathSeg, bool) {
	var segs []pathSeg
	for path != "" {
		if len(segs) > 0 {
			if path[0] != '.' {
				return nil, false
			}
			path = path[1:]
		}
		var key string
		if strings.HasPrefix(path, `"`) {
			q, err := strconv.QuotedPrefix(path)
			if err != nil {
				return nil, false
			}
			key, _ = strconv.Unquote(q)
			path = path[len(q):]
		} else {
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			key, path = path[:end], path[end:]
		}
		segs = append(segs, pathSeg{key: key, index: -1})
		for strings.HasPrefix(path, "[") {
			end := strings.IndexByte(path, ']')
			i, err := strconv.Atoi(path[1:max(end, 1)])
			if end < 0 || err != nil {
				return nil, false
			}
			segs = append(segs, pathSeg{index: i})
			path = path[end+1:]
		}
	}
	return segs, true
}

// markValues replaces every string value below n that has no anchor (an
// anchored one may also be used as a key, which paths name) with a unique
// marker, and returns the markers.
func markValues(n *yaml.Node) []string {
	var markers []string
	var mark func(n *yaml.Node, depth int)
	mark = func(n *yaml.Node, depth int) {
		if depth > 64 {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				mark(c, depth+1)
			}
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				mark(n.Content[i], depth+1)
			}
		case yaml.ScalarNode:
			if n.Anchor == "" && n.ShortTag() == "!!str" {
				n.Value = fmt.Sprintf("Qz%05dxJ", len(markers))
				markers = append(markers, n.Value)
			}
		}
	}
	mark(n, 0)
	return markers
}
