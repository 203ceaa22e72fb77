// Command loadgrpc is hack/bench.sh's load client for Envoy's ext_authz
// gRPC Check: -workers goroutines share -conns gRPC connections and send
// the same CheckRequest (a POST to /api/sdk/events on api.example.com with
// an x-api-key header, as Envoy forwards it) back to back for -duration.
//
// It prints one line,
//
//	checks=<completed> rps=<checks per second> p99_ms=<99th percentile latency>
//
// and exits 1 when any Check fails as an RPC or is answered other than OK,
// so that a run that measured refusals never passes for a result. Before
// the run each connection sends one Check, so that a server that does not
// answer or refuses the key is an error rather than a figure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

type config struct {
	addr, key, policy string
	conns, workers    int
	duration, timeout time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "", "host:port of the ext_authz gRPC server (required)")
	flag.StringVar(&c.key, "key", "", "the API key sent as x-api-key (required)")
	flag.StringVar(&c.policy, "policy", "", "namespace/name of a rate-limit policy, sent as the route's context_extensions policy (empty: none)")
	flag.IntVar(&c.conns, "conns", 4, "gRPC connections")
	flag.IntVar(&c.workers, "workers", 32, "concurrent callers, spread over the connections")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of the run")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Second, "deadline of each Check")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "loadgrpc:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.addr == "" || c.key == "" {
		return errors.New("-addr and -key are required")
	}
	if c.conns < 1 || c.workers < 1 {
		return errors.New("-conns and -workers must be 1 or more")
	}
	req := checkRequest(c)
	clients := make([]authv3.AuthorizationClient, c.conns)
	for i := range clients {
		cc, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer func() { _ = cc.Close() }()
		clients[i] = authv3.NewAuthorizationClient(cc)
		if err := check(clients[i], req, c.timeout); err != nil {
			return fmt.Errorf("first Check on %s: %w", c.addr, err)
		}
	}
	n, p99, elapsed, err := load(c, clients, req)
	if err != nil {
		return err
	}
	fmt.Printf("checks=%d rps=%.0f p99_ms=%.3f\n", n, float64(n)/elapsed.Seconds(), float64(p99)/float64(time.Millisecond))
	return nil
}

// load runs the workers for the duration and returns the checks completed,
// their 99th percentile latency and the time taken until the last ended.
func load(c config, clients []authv3.AuthorizationClient, req *authv3.CheckRequest) (int, time.Duration, time.Duration, error) {
	var stop atomic.Bool
	var failed atomic.Pointer[error]
	lat := make([][]time.Duration, c.workers)
	var wg sync.WaitGroup
	start := time.Now()
	timer := time.AfterFunc(c.duration, func() { stop.Store(true) })
	defer timer.Stop()
	for w := range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := clients[w%len(clients)]
			l := make([]time.Duration, 0, 1<<14)
			for !stop.Load() {
				t := time.Now()
				if err := check(cl, req, c.timeout); err != nil {
					failed.CompareAndSwap(nil, &err)
					stop.Store(true)
					break
				}
				l = append(l, time.Since(t))
			}
			lat[w] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := failed.Load(); err != nil {
		return 0, 0, 0, fmt.Errorf("during the load on %s: %w", c.addr, *err)
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return 0, 0, 0, errors.New("no Check completed")
	}
	slices.Sort(all)
	return len(all), all[(len(all)*99)/100], elapsed, nil
}

// check sends one Check and fails unless it is answered OK.
func check(cl authv3.AuthorizationClient, req *authv3.CheckRequest, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := cl.Check(ctx, req)
	if err != nil {
		return err
	}
	if code := codes.Code(resp.GetStatus().GetCode()); code != codes.OK {
		return fmt.Errorf("check answered %v (HTTP %d), not OK", code, resp.GetDeniedResponse().GetStatus().GetCode())
	}
	return nil
}

// checkRequest is what Envoy sends for a client at 203.0.113.7 that went
// through one proxy hop (X-Forwarded-For, read with --trusted-hops=1).
func checkRequest(c config) *authv3.CheckRequest {
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "10.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}},
		}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST",
			Path:   "/api/sdk/events",
			Host:   "api.example.com",
			Scheme: "https",
			Headers: map[string]string{
				"x-api-key":       c.key,
				"x-forwarded-for": "203.0.113.7",
			},
		}},
	}}
	if c.policy != "" {
		req.Attributes.ContextExtensions = map[string]string{"policy": c.policy}
	}
	return req
}
