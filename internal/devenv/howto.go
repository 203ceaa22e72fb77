package devenv

import (
	"io"
	"net"
	"strings"
	"text/template"
	"time"
)

// samplePolicy is the sample RateLimitPolicy the printed curl line names:
// the samples are ready once the sample key is admitted under it.
const samplePolicy = "acme/breakground"

type howTo struct {
	addr, grpcAddr, key, kubeconfig, kubectl string
	hmac                                     []byte
}

var howToTemplate = template.Must(template.New("howto").Parse(`
keygate is running. Try it (paste as is):

  # an API key of the sample ApiKey acme/acme-sdk, with the BreakGround rate limits
  curl -i -H 'X-API-Key: {{.Key}}' '{{.Base}}/check?policy={{.Policy}}'

  # a JWT of the dev issuer (sub dev-user, scopes {{.Scopes}}), valid 24h
  curl -i -H 'Authorization: Bearer {{.Token}}' '{{.Base}}/check?auth=jwt&scopes=admin'

  # no credential: the structured 401
  curl -i '{{.Base}}/check'
{{if .GRPC}}
  # Envoy's ext_authz over gRPC (envoy.service.auth.v3.Authorization) is on {{.GRPC}}
{{end}}
  # LAST USED shows a key's use a few seconds after the first curl
  export KUBECONFIG={{.Kubeconfig}}
  {{.Kubectl}} get apikeys,ratelimitpolicies -A

Ctrl-C stops everything.
`))

// printHowTo prints the curl and kubectl lines.
func printHowTo(w io.Writer, h howTo) error {
	scopes := []string{"admin", "events:write"}
	token, err := SignDevJWT(h.hmac, "dev-user", scopes, time.Now(), 24*time.Hour)
	if err != nil {
		return err
	}
	return howToTemplate.Execute(w, map[string]string{
		"Base": "http://" + localAddr(h.addr), "Key": h.key, "Policy": samplePolicy, "Token": token, "Scopes": strings.Join(scopes, " "),
		"Kubeconfig": h.kubeconfig, "Kubectl": h.kubectl, "GRPC": grpcTarget(h.grpcAddr),
	})
}

func grpcTarget(addr string) string {
	if addr == "" {
		return ""
	}
	return localAddr(addr)
}

// localAddr turns a listen address (:8080) into one to dial.
func localAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
