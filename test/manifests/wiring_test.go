package manifests_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/keygate-dev/keygate/webhook/jwtauth"
)

// TestDefaultWiring checks what the API server cannot: that the pieces of
// config/default point at each other (selectors, ports, flags, mounts,
// bindings), so a rename in one file cannot silently break the install.
func TestDefaultWiring(t *testing.T) {
	objs := build(t, repoPath("config", "default"))
	ctrl := find(t, objs, "Deployment", "keygate-controller")
	auth := find(t, objs, "Deployment", "keygate-auth-server")

	if r, _, _ := unstructured.NestedInt64(ctrl.Object, "spec", "replicas"); r != 1 {
		t.Errorf("controller replicas = %d, want 1", r)
	}
	if r, _, _ := unstructured.NestedInt64(auth.Object, "spec", "replicas"); r != 2 {
		t.Errorf("auth server replicas = %d, want 2", r)
	}
	cargs := argsOf(t, ctrl)
	if len(cargs) == 0 || cargs[0] != "controller" || !slices.Contains(cargs, "--leader-elect") {
		t.Errorf("controller args %v: want the controller subcommand with --leader-elect", cargs)
	}
	aargs := argsOf(t, auth)
	if len(aargs) == 0 || aargs[0] != "auth-server" {
		t.Errorf("auth server args %v: want the auth-server subcommand", aargs)
	}
	checkAuthServerNetwork(t, objs, auth, aargs)
	checkJWTMount(t, objs, auth, aargs)
	checkBindings(t, objs, ctrl, auth)
	checkProbes(t, auth, "/readyz", "/healthz")
}

func checkAuthServerNetwork(t *testing.T, objs []*unstructuredT, auth *unstructuredT, args []string) {
	podLabels := stringMap(auth, "spec", "template", "metadata", "labels")
	ports := containerPorts(t, auth)
	addr, _ := flagValue(args, "addr")
	if want := ":" + strconv.FormatInt(ports["http"], 10); addr != want {
		t.Errorf("auth server --addr=%s, but its container port http is %s", addr, want)
	}
	grpcAddr, _ := flagValue(args, "grpc-addr")
	if want := ":" + strconv.FormatInt(ports["grpc"], 10); ports["grpc"] == 0 || grpcAddr != want {
		t.Errorf("auth server --grpc-addr=%s, but its container port grpc is %s", grpcAddr, want)
	}
	svc := find(t, objs, "Service", "keygate-auth-server")
	if !labelsMatch(stringMap(svc, "spec", "selector"), podLabels) {
		t.Errorf("Service keygate-auth-server does not select the auth server's pods")
	}
	sp, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	if len(sp) != 2 || sp[0].(map[string]any)["port"] != int64(80) || sp[0].(map[string]any)["targetPort"] != "http" ||
		sp[1].(map[string]any)["port"] != int64(9001) || sp[1].(map[string]any)["targetPort"] != "grpc" ||
		sp[1].(map[string]any)["appProtocol"] != "kubernetes.io/h2c" {
		t.Errorf("Service keygate-auth-server ports = %v, want 80 -> http and 9001 -> grpc (h2c)", sp)
	}
	pdb := find(t, objs, "PodDisruptionBudget", "keygate-auth-server")
	if !labelsMatch(stringMap(pdb, "spec", "selector", "matchLabels"), podLabels) {
		t.Errorf("the PodDisruptionBudget does not select the auth server's pods")
	}
	if m, _, _ := unstructured.NestedInt64(pdb.Object, "spec", "minAvailable"); m != 1 {
		t.Errorf("PodDisruptionBudget minAvailable = %d, want 1", m)
	}
	np := find(t, objs, "NetworkPolicy", "keygate-auth-server")
	if !labelsMatch(stringMap(np, "spec", "podSelector", "matchLabels"), podLabels) {
		t.Errorf("the NetworkPolicy does not select the auth server's pods")
	}
	rules, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	if len(rules) != 1 {
		t.Fatalf("NetworkPolicy ingress rules = %v, want one", rules)
	}
	rule := rules[0].(map[string]any)
	from, _ := rule["from"].([]any)
	if len(from) != 1 || from[0].(map[string]any)["namespaceSelector"] == nil {
		t.Errorf("NetworkPolicy must admit exactly one namespace selector, got %v", from)
	}
	rp, _ := rule["ports"].([]any)
	if len(rp) != 2 || rp[0].(map[string]any)["port"] != "http" || rp[1].(map[string]any)["port"] != "grpc" {
		t.Errorf("NetworkPolicy must admit only the check ports http and grpc, got %v", rp)
	}
}

func checkJWTMount(t *testing.T, objs []*unstructuredT, auth *unstructuredT, args []string) {
	path, ok := flagValue(args, "jwt-config")
	if !ok {
		t.Fatalf("auth server args %v lack --jwt-config", args)
	}
	dir, file := path[:strings.LastIndex(path, "/")], path[strings.LastIndex(path, "/")+1:]
	mounts, _ := container(t, auth)["volumeMounts"].([]any)
	var volume string
	for _, m := range mounts {
		mm := m.(map[string]any)
		if mm["mountPath"] == dir {
			volume, _ = mm["name"].(string)
		}
	}
	vols, _, _ := unstructured.NestedSlice(auth.Object, "spec", "template", "spec", "volumes")
	var cmName string
	for _, v := range vols {
		vm := v.(map[string]any)
		if vm["name"] == volume {
			cmName, _, _ = unstructured.NestedString(vm, "configMap", "name")
		}
	}
	if cmName == "" {
		t.Fatalf("no ConfigMap volume is mounted at %s", dir)
	}
	cm := find(t, objs, "ConfigMap", cmName)
	if _, err := jwtauth.ParseConfig([]byte(str(cm, "data", file))); err != nil {
		t.Errorf("ConfigMap %s, data key %s (--jwt-config=%s): %v", cmName, file, path, err)
	}
}

func checkBindings(t *testing.T, objs []*unstructuredT, ctrl, auth *unstructuredT) {
	bound := map[string][]string{} // service account -> roles bound to it
	for _, o := range objs {
		if o.GetKind() != "RoleBinding" && o.GetKind() != "ClusterRoleBinding" {
			continue
		}
		subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
		for _, s := range subjects {
			sm := s.(map[string]any)
			if sm["kind"] == "ServiceAccount" && sm["namespace"] == "keygate-system" {
				role := str(o, "roleRef", "kind") + "/" + str(o, "roleRef", "name")
				bound[sm["name"].(string)] = append(bound[sm["name"].(string)], role)
			}
		}
	}
	for dep, want := range map[*unstructuredT][]string{
		ctrl: {"ClusterRole/keygate-controller", "Role/keygate-leader-election"},
		auth: {"Role/keygate-auth-server"},
	} {
		sa := str(dep, "spec", "template", "spec", "serviceAccountName")
		find(t, objs, "ServiceAccount", sa)
		got := bound[sa]
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("service account %s of %s is bound to %v, want %v", sa, dep.GetName(), got, want)
		}
	}
}

func checkProbes(t *testing.T, dep *unstructuredT, readiness, liveness string) {
	c := container(t, dep)
	for probe, want := range map[string]string{"readinessProbe": readiness, "livenessProbe": liveness} {
		got, _, _ := unstructured.NestedString(c, probe, "httpGet", "path")
		if got != want {
			t.Errorf("%s %s path = %q, want %q", dep.GetName(), probe, got, want)
		}
	}
}

func checkServiceMonitor(t *testing.T, objs []*unstructuredT) {
	sm := find(t, objs, "ServiceMonitor", "keygate")
	sel := stringMap(sm, "spec", "selector", "matchLabels")
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 {
		t.Fatalf("ServiceMonitor endpoints = %v, want one", eps)
	}
	port, _ := eps[0].(map[string]any)["port"].(string)
	for svcName, depName := range map[string]string{
		"keygate-controller-metrics":  "keygate-controller",
		"keygate-auth-server-metrics": "keygate-auth-server",
	} {
		svc := find(t, objs, "Service", svcName)
		if !labelsMatch(sel, svc.GetLabels()) {
			t.Errorf("the ServiceMonitor does not select Service %s", svcName)
		}
		dep := find(t, objs, "Deployment", depName)
		if !labelsMatch(stringMap(svc, "spec", "selector"), stringMap(dep, "spec", "template", "metadata", "labels")) {
			t.Errorf("Service %s does not select the pods of %s", svcName, depName)
		}
		sp, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
		if len(sp) != 1 || sp[0].(map[string]any)["name"] != port {
			t.Errorf("Service %s has no port named %s", svcName, port)
			continue
		}
		target, _ := sp[0].(map[string]any)["targetPort"].(string)
		if _, ok := containerPorts(t, dep)[target]; !ok {
			t.Errorf("Service %s targets port %q, which %s does not expose", svcName, target, depName)
		}
	}
}
