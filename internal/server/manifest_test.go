package server

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestKubernetesManifestIsRestricted checks the shipped Kubernetes examples
// against the "restricted" Pod Security Standard (kubernetes.io/docs/
// concepts/security/pod-security-standards), and that each defines every
// Secret it mounts and sets resources for every container. An authgate
// Deployment runs one replica unless its config puts the state on Redis;
// with several, a PodDisruptionBudget covers them and the config is
// mounted as a directory, so that ConfigMap updates reach them.
func TestKubernetesManifestIsRestricted(t *testing.T) {
	for _, file := range []string{"kubernetes/deployment.yaml", "kubernetes/replicas.yaml", "kubernetes/tls.yaml"} {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(file, "kubernetes/"), ".yaml"), func(t *testing.T) {
			checkManifest(t, file)
		})
	}
}

func checkManifest(t *testing.T, file string) {
	type object = map[string]any
	dec := yaml.NewDecoder(strings.NewReader(example(t, file)))
	secrets := map[string]bool{}
	configMaps := map[string]object{}
	var workloads, budgets []object
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
		case "ConfigMap":
			configMaps[name] = doc
		case "Deployment", "StatefulSet":
			workloads = append(workloads, doc)
		case "PodDisruptionBudget":
			budgets = append(budgets, doc)
		}
	}
	if len(workloads) == 0 {
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
	for _, w := range workloads {
		pod := get(w, "spec", "template", "spec").(object)
		checkReplicas(t, w, pod, configMaps, budgets, get)
		checkPod(t, pod, secrets, get)
	}
}

// checkReplicas applies the replica rules to an authgate Deployment.
func checkReplicas(t *testing.T, w, pod map[string]any, configMaps map[string]map[string]any, budgets []map[string]any, get func(map[string]any, ...string) any) {
	isAuthgate := slices.ContainsFunc(asList(pod["containers"]), func(c any) bool {
		return strings.HasPrefix(c.(map[string]any)["image"].(string), "authgate")
	})
	if w["kind"] != "Deployment" || !isAuthgate {
		return
	}
	var cfg string
	var mounts []any
	for _, v := range asList(pod["volumes"]) {
		if name, ok := get(v.(map[string]any), "configMap", "name").(string); ok {
			cfg, _ = get(configMaps[name], "data", "gateway.yaml").(string)
			for _, c := range asList(pod["containers"]) {
				for _, m := range asList(c.(map[string]any)["volumeMounts"]) {
					if m.(map[string]any)["name"] == v.(map[string]any)["name"] {
						mounts = append(mounts, m)
					}
				}
			}
		}
	}
	var parsed struct {
		State struct {
			Redis map[string]any `yaml:"redis"`
		} `yaml:"state"`
	}
	if err := yaml.Unmarshal([]byte(cfg), &parsed); err != nil || cfg == "" {
		t.Fatalf("the Deployment's gateway.yaml is missing or not YAML: %v", err)
	}
	replicas, _ := get(w, "spec", "replicas").(int)
	shared := parsed.State.Redis != nil
	switch {
	case replicas > 1 && !shared:
		t.Errorf("replicas = %d with state in the process: a logout on one would not be seen by the others; set state.redis", replicas)
	case replicas <= 1 && shared:
		t.Errorf("replicas = %d with state on Redis: the example should show several", replicas)
	case replicas > 1:
		labels := get(w, "spec", "selector", "matchLabels")
		if !slices.ContainsFunc(budgets, func(b map[string]any) bool {
			return reflect.DeepEqual(get(b, "spec", "selector", "matchLabels"), labels) && get(b, "spec", "minAvailable") != nil
		}) {
			t.Errorf("%d replicas and no PodDisruptionBudget with minAvailable selecting %v", replicas, labels)
		}
		for _, m := range mounts {
			if sub := m.(map[string]any)["subPath"]; sub != nil {
				t.Errorf("the config is mounted with subPath %v: ConfigMap updates would never reach the Pods", sub)
			}
		}
	}
}

// checkPod applies the restricted Pod Security Standard to pod.
func checkPod(t *testing.T, pod map[string]any, secrets map[string]bool, get func(map[string]any, ...string) any) {
	type object = map[string]any
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
		for _, e := range asList(c["env"]) {
			if ref, ok := get(e.(object), "valueFrom", "secretKeyRef", "name").(string); ok && !secrets[ref] {
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
