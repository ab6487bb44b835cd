package server

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestKubernetesManifestIsRestricted checks the shipped Kubernetes example
// against the "restricted" Pod Security Standard (kubernetes.io/docs/
// concepts/security/pod-security-standards), and that it defines every
// Secret it mounts, sets resources for every container, and runs one
// replica while state is per process.
func TestKubernetesManifestIsRestricted(t *testing.T) {
	type object = map[string]any
	dec := yaml.NewDecoder(strings.NewReader(example(t, "kubernetes/deployment.yaml")))
	secrets := map[string]bool{}
	var deployment object
	for {
		var doc object
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name, _ := doc["metadata"].(object)["name"].(string)
		switch doc["kind"] {
		case "Secret":
			secrets[name] = true
		case "Deployment":
			deployment = doc
		}
	}
	if deployment == nil {
		t.Fatal("no Deployment in the manifest")
	}
	get := func(o object, path ...string) any {
		var v any = o
		for _, p := range path {
			m, ok := v.(object)
			if !ok {
				return nil
			}
			v = m[p]
		}
		return v
	}
	if r := get(deployment, "spec", "replicas"); r != 1 {
		t.Errorf("replicas = %v, want 1 while revocations live in the process", r)
	}
	pod := get(deployment, "spec", "template", "spec").(object)
	for _, host := range []string{"hostNetwork", "hostPID", "hostIPC"} {
		if pod[host] == true {
			t.Errorf("pod sets %s", host)
		}
	}
	podNonRoot := get(pod, "securityContext", "runAsNonRoot") == true
	podSeccomp := get(pod, "securityContext", "seccompProfile", "type")
	allowedVolumes := []string{"configMap", "secret", "emptyDir", "projected", "downwardAPI", "csi", "persistentVolumeClaim", "ephemeral"}
	for _, v := range asList(pod["volumes"]) {
		for kind, src := range v.(object) {
			if kind == "name" {
				continue
			}
			if !slices.Contains(allowedVolumes, kind) {
				t.Errorf("volume of type %s is not allowed under restricted", kind)
			}
			if ref, _ := get(object{"s": src}, "s", "secretName").(string); kind == "secret" && !secrets[ref] {
				t.Errorf("volume mounts Secret %q, which the manifest does not define", ref)
			}
		}
	}
	for _, c := range asList(pod["containers"]) {
		c := c.(object)
		name := c["name"]
		sc, _ := c["securityContext"].(object)
		if sc == nil {
			t.Errorf("container %v has no securityContext", name)
			continue
		}
		if sc["allowPrivilegeEscalation"] != false {
			t.Errorf("container %v: allowPrivilegeEscalation = %v, want false", name, sc["allowPrivilegeEscalation"])
		}
		if sc["privileged"] == true {
			t.Errorf("container %v is privileged", name)
		}
		drop, _ := get(sc, "capabilities", "drop").([]any)
		if !slices.Contains(drop, any("ALL")) {
			t.Errorf("container %v: capabilities.drop = %v, want ALL", name, drop)
		}
		for _, add := range asList(get(sc, "capabilities", "add")) {
			if add != "NET_BIND_SERVICE" {
				t.Errorf("container %v adds capability %v", name, add)
			}
		}
		if !podNonRoot && sc["runAsNonRoot"] != true {
			t.Errorf("container %v may run as root", name)
		}
		if uid, ok := sc["runAsUser"].(int); ok && uid == 0 {
			t.Errorf("container %v runs as uid 0", name)
		}
		if s := get(sc, "seccompProfile", "type"); s != "RuntimeDefault" && s != "Localhost" && podSeccomp != "RuntimeDefault" && podSeccomp != "Localhost" {
			t.Errorf("container %v has no RuntimeDefault or Localhost seccomp profile", name)
		}
		if get(c, "resources", "requests") == nil || get(c, "resources", "limits", "memory") == nil {
			t.Errorf("container %v lacks resource requests or a memory limit", name)
		}
		for _, p := range asList(c["ports"]) {
			if p.(object)["hostPort"] != nil {
				t.Errorf("container %v uses a hostPort", name)
			}
		}
		for _, e := range asList(c["envFrom"]) {
			if ref, ok := get(e.(object), "secretRef", "name").(string); ok && !secrets[ref] {
				t.Errorf("container %v reads Secret %s, which the manifest does not define", name, ref)
			}
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// TestDockerfileBaseImagesCanBePinned: every base image is fully
// qualified (podman resolves no short names) and takes its digest from a
// build argument, so a build can pin it (README, "Container"). No digest
// is written into the file: none could be read from a registry here, and
// a digest copied from anywhere else would be a guess.
func TestDockerfileBaseImagesCanBePinned(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]bool{}
	froms := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 2 && fields[0] == "ARG" && froms == 0:
			args[strings.SplitN(fields[1], "=", 2)[0]] = true
		case len(fields) >= 2 && fields[0] == "FROM":
			froms++
			image := fields[1]
			registry, _, _ := strings.Cut(image, "/")
			name, digestArg, ok := strings.Cut(image, "${")
			arg, _, _ := strings.Cut(digestArg, ":+@}")
			if !strings.Contains(registry, ".") || !ok || !args[arg] || image != name+"${"+arg+":+@}${"+arg+"}" {
				t.Errorf("FROM %s: want a fully qualified image followed by ${ARG:+@}${ARG}, ARG declared before the first FROM", image)
			}
		}
	}
	if froms != 2 {
		t.Errorf("the Dockerfile has %d stages, want 2 (build and runtime)", froms)
	}
}
