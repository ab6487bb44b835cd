package bench

import (
	"encoding/json"
	"strings"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }
