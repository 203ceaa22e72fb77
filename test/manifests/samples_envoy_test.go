package manifests_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	// The typed configs the sample names, registered for protojson.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/keygate-dev/keygate/webhook"
)

func init() { sampleFolderChecks["envoy"] = checkEnvoySamples }

// checkEnvoySamples loads the hand-written Envoy configuration into Envoy's
// Bootstrap proto (go-control-plane) and runs the protos' own validation,
// down into every typed_config. That catches a wrong field, type or value,
// though not Envoy's runtime behaviour: no Envoy binary can be installed
// here. It also checks that every route's keygate options (the HTTP
// service's path segment and the gRPC routes' context_extensions) are
// options keygate accepts.
func checkEnvoySamples(t *testing.T, dir string) {
	data, err := os.ReadFile(filepath.Join(dir, "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	var b bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{}).Unmarshal(js, &b); err != nil {
		t.Fatalf("envoy.yaml is not an Envoy v3 bootstrap: %v", err)
	}
	var options []string
	validateTree(t, b.ProtoReflect(), "bootstrap", &options)
	if len(options) < 3 {
		t.Fatalf("found %d keygate option sets in envoy.yaml (%v); want the HTTP path prefix and two gRPC routes", len(options), options)
	}
	for _, o := range options {
		if err := webhook.CheckOptions(o); err != nil {
			t.Errorf("envoy.yaml gives keygate the options %q: %v", o, err)
		}
	}
}

// validateTree runs ValidateAll on m (which checks the messages embedded
// in it, but not inside an Any), walks m for every Any (typed_config),
// unpacks it into its own type and validates that the same way, and
// collects the keygate options found on the way.
func validateTree(t *testing.T, m protoreflect.Message, where string, options *[]string) {
	t.Helper()
	if v, ok := m.Interface().(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
	walk(t, m, where, options)
}

// walk finds the Anys and the keygate options below m.
func walk(t *testing.T, m protoreflect.Message, where string, options *[]string) {
	t.Helper()
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			t.Errorf("%s: typed_config %s: %v", where, a.GetTypeUrl(), err)
			return
		}
		validateTree(t, inner.ProtoReflect(), where+"("+a.GetTypeUrl()+")", options)
		return
	}
	collectOptions(m, options)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := where + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				walk(t, v.List().Get(i).Message(), name, options)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				walk(t, mv.Message(), name+"["+k.String()+"]", options)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			walk(t, v.Message(), name, options)
		}
		return true
	})
}

// collectOptions records keygate's options: the ";" segment of an HTTP
// service's path_prefix, and a route's context_extensions.
func collectOptions(m protoreflect.Message, options *[]string) {
	fields := m.Descriptor().Fields()
	if fd := fields.ByName("path_prefix"); fd != nil && fd.Kind() == protoreflect.StringKind {
		p := m.Get(fd).String()
		if seg, ok := strings.CutPrefix(p, "/check;"); ok {
			seg, _, _ = strings.Cut(seg, "/")
			*options = append(*options, seg)
		}
	}
	if fd := fields.ByName("context_extensions"); fd != nil && fd.IsMap() {
		q := url.Values{}
		m.Get(fd).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			q.Set(k.String(), v.String())
			return true
		})
		if len(q) > 0 {
			*options = append(*options, q.Encode())
		}
	}
}
