package e2e_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/keygate-dev/keygate/internal/manifest"

	"github.com/keygate-dev/keygate/test/testenv"
)

// The annotations of the documented Ingress (config/samples/ingress-nginx),
// which the nginx configuration below is built from: what is tested is
// what the guide tells users to write.
const (
	annAuthURL         = "nginx.ingress.kubernetes.io/auth-url"
	annResponseHeaders = "nginx.ingress.kubernetes.io/auth-response-headers"
	annConfigSnippet   = "nginx.ingress.kubernetes.io/configuration-snippet"
	annServerSnippet   = "nginx.ingress.kubernetes.io/server-snippet"
)

// route is one Ingress path: requests under Path are checked with AuthURL,
// and the auth answer's ResponseHeaders are copied onto the upstream
// request.
type route struct {
	ID              int
	Path            string
	AuthURL         string
	AuthHost        string
	ResponseHeaders []string
}

type nginxConf struct {
	Dir, Listen, Upstream string
	ServerSnippet         string
	ConfigSnippet         string
	ResponseHeaders       []string
	Routes                []route
}

// nginxTemplate follows what ingress-nginx's
// rootfs/etc/nginx/template/nginx.tmpl generates for an Ingress with
// auth-url, auth-response-headers and snippets: an internal auth location
// per path that sends no body and the X-Original-*, X-Sent-From, X-Real-IP,
// X-Forwarded-For, X-Request-ID and X-Auth-Request-Redirect headers, and a
// location that runs auth_request and copies the response headers upstream.
// The Lua parts of ingress-nginx (balancer, metrics) are left out.
var nginxTemplate = template.Must(template.New("nginx").Funcs(template.FuncMap{
	"var": func(h string) string { return strings.ReplaceAll(strings.ToLower(h), "-", "_") },
}).Parse(`
worker_processes 1;
daemon off;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log info;
events { worker_connections 256; }
http {
    access_log {{.Dir}}/access.log;
    client_body_temp_path {{.Dir}}/body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;
    map $http_x_request_id $req_id {
        default $http_x_request_id;
        ""      $request_id;
    }
    server {
        listen {{.Listen}};
        server_name _;

        # Custom code snippet configured for host
        {{.ServerSnippet}}
{{range .Routes}}
        location = /_external-auth-{{.ID}}-Prefix {
            internal;
            access_log off;
            proxy_pass_request_body     off;
            proxy_set_header            Content-Length          "";
            proxy_set_header            X-Forwarded-Proto       "";
            proxy_set_header            X-Request-ID            $req_id;
            proxy_set_header            Host                    {{.AuthHost}};
            proxy_set_header            X-Original-URL          $scheme://$http_host$request_uri;
            proxy_set_header            X-Original-Method       $request_method;
            proxy_set_header            X-Sent-From             "nginx-ingress-controller";
            proxy_set_header            X-Real-IP               $remote_addr;
            proxy_set_header            X-Forwarded-For         $remote_addr;
            proxy_set_header            X-Auth-Request-Redirect $request_uri;
            proxy_buffering             off;
            proxy_buffer_size           4k;
            proxy_buffers               4 4k;
            proxy_request_buffering     on;
            proxy_ssl_server_name       on;
            proxy_pass_request_headers  on;
            proxy_http_version          1.1;
            set $target {{.AuthURL}};
            proxy_pass $target;
        }

        location {{.Path}} {
            set $proxy_upstream_name "upstream";
            # this location requires authentication
            auth_request        /_external-auth-{{.ID}}-Prefix;
            auth_request_set    $auth_cookie $upstream_http_set_cookie;
            add_header          Set-Cookie $auth_cookie;
{{- range $i, $h := .ResponseHeaders}}
            auth_request_set $authHeader{{$i}} $upstream_http_{{var $h}};
            proxy_set_header '{{$h}}' $authHeader{{$i}};
{{- end}}
            proxy_set_header Host              $http_host;
            proxy_set_header X-Request-ID      $req_id;
            proxy_set_header X-Real-IP         $remote_addr;
            proxy_set_header X-Forwarded-For   $remote_addr;
            proxy_http_version 1.1;
            {{$.ConfigSnippet}}
            proxy_pass http://{{$.Upstream}};
        }
{{end}}
    }
}
`))

// sampleAnnotations reads the annotations of a sample Ingress.
func sampleAnnotations(t *testing.T, name string) map[string]string {
	t.Helper()
	objs, err := manifest.ReadObjects(filepath.Join(testenv.RepoRoot(), "config", "samples", "ingress-nginx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "Ingress" && o.GetName() == name {
			return o.GetAnnotations()
		}
	}
	t.Fatalf("config/samples/ingress-nginx has no Ingress %s", name)
	return nil
}

// responseHeaders is an Ingress's auth-response-headers.
func responseHeaders(ann map[string]string) []string {
	var hs []string
	for _, h := range strings.Split(ann[annResponseHeaders], ",") {
		hs = append(hs, strings.TrimSpace(h))
	}
	return hs
}

// nginxFromSample reads the annotations of the sample Ingress acme-api.
func nginxFromSample(t *testing.T) (conf nginxConf, sampleAuthURL string) {
	t.Helper()
	ann := sampleAnnotations(t, "acme-api")
	conf.ResponseHeaders = responseHeaders(ann)
	conf.ConfigSnippet = ann[annConfigSnippet]
	conf.ServerSnippet = ann[annServerSnippet]
	return conf, ann[annAuthURL]
}

// routeSpec is one path of an Ingress and its check: the auth server's
// base URL, the check URL's query (the per-route options), and auth
// response headers to copy upstream besides the sample's.
type routeSpec struct {
	Path, Auth, Query string
	ResponseHeaders   []string
}

// startNginx runs nginx in front of up with one location per route, as
// ingress-nginx would for Ingresses with the sample's annotations.
func startNginx(t *testing.T, up *upstream, routes ...routeSpec) string {
	t.Helper()
	bin := testenv.RequireBinary(t, "nginx")
	conf, _ := nginxFromSample(t)
	conf.Dir = t.TempDir()
	conf.Listen = freeAddr(t)
	conf.Upstream = strings.TrimPrefix(up.srv.URL, "http://")
	for i, r := range routes {
		conf.Routes = append(conf.Routes, route{ID: i, Path: r.Path, AuthURL: r.Auth + "/check" + r.Query, AuthHost: strings.TrimPrefix(r.Auth, "http://"),
			ResponseHeaders: append(slices.Clone(conf.ResponseHeaders), r.ResponseHeaders...)})
	}
	var buf bytes.Buffer
	if err := nginxTemplate.Execute(&buf, conf); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(conf.Dir, "nginx.conf")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", conf.Dir, "-c", file, "-e", filepath.Join(conf.Dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(conf.Dir, "error.log"))
			t.Logf("nginx.conf:\n%s\nnginx error.log:\n%s", buf.String(), log)
		}
	})
	base := "http://" + conf.Listen
	eventually(t, 10*time.Second, "nginx listening", func() bool {
		c, err := net.Dial("tcp", conf.Listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return base
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// get sends a request through nginx (or anywhere) and returns the
// response with its body read.
func get(t *testing.T, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

var seq int

// uniquePath makes a request URI that no other request uses, so the
// upstream's record says whether this one request reached it.
func uniquePath(prefix string) string {
	seq++
	return fmt.Sprintf("%sreq-%d-%d", prefix, time.Now().UnixNano(), seq)
}
