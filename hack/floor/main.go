// Command floor is the floor of hack/bench.sh's load runs, in a process of
// its own: the least an auth server can do per request. Over HTTP, any
// request with an X-API-Key header whose SHA-256 is in the map gets 200,
// any other 401. Over gRPC, Envoy's ext_authz Check does the same with the
// x-api-key header and answers OK or PERMISSION_DENIED.
//
// The HTTP server has keygate's timeouts and limits (webhook/server.go),
// the gRPC server keygate's message size and connection timeout
// (webhook/grpc.go), so that the comparison is of the work per request.
//
// The keys are read from -hashes, hex SHA-256 hashes one a line (what
// hack/benchstack writes). When both servers listen it prints on stdout
//
//	http=<host:port>
//	grpc=<host:port>
//
// and serves until SIGINT or SIGTERM.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

type keySet map[[sha256.Size]byte]struct{}

func main() {
	httpAddr := flag.String("http", "127.0.0.1:0", "address of the HTTP floor")
	grpcAddr := flag.String("grpc", "127.0.0.1:0", "address of the ext_authz gRPC floor")
	hashes := flag.String("hashes", "", "file of the accepted keys' hex SHA-256, one a line (required)")
	flag.Parse()
	if err := run(*httpAddr, *grpcAddr, *hashes); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(httpAddr, grpcAddr, hashesFile string) error {
	keys, err := readHashes(hashesFile)
	if err != nil {
		return err
	}
	hl, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return err
	}
	// The same settings as keygate's newHTTPServer.
	hs := &http.Server{
		Handler:           httpFloor(keys),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	// The same options as keygate's NewGRPCServer, less its panic handler.
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(16<<20), grpc.ConnectionTimeout(5*time.Second))
	authv3.RegisterAuthorizationServer(gs, &grpcFloor{keys: keys})

	errc := make(chan error, 2)
	go func() { errc <- fmt.Errorf("HTTP floor: %w", hs.Serve(hl)) }()
	go func() { errc <- fmt.Errorf("gRPC floor: %w", gs.Serve(gl)) }()
	fmt.Printf("http=%s\ngrpc=%s\n", hl.Addr(), gl.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	gs.Stop()
	if err := hs.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func readHashes(file string) (keySet, error) {
	if file == "" {
		return nil, errors.New("-hashes is required")
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	keys := keySet{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var h [sha256.Size]byte
		if n, err := hex.Decode(h[:], []byte(line)); err != nil || n != sha256.Size {
			return nil, fmt.Errorf("%s: %q is no hex SHA-256", file, line)
		}
		keys[h] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no hash", file)
	}
	return keys, nil
}

// httpFloor hashes the header and looks it up.
func httpFloor(keys keySet) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := keys[sha256.Sum256([]byte(r.Header.Get("X-Api-Key")))]; ok {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
}

// grpcFloor is ext_authz's Check doing the same.
type grpcFloor struct {
	authv3.UnimplementedAuthorizationServer
	keys keySet
}

func (f *grpcFloor) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	key := req.GetAttributes().GetRequest().GetHttp().GetHeaders()["x-api-key"]
	if _, ok := f.keys[sha256.Sum256([]byte(key))]; ok {
		return &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
		}, nil
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized},
		}},
	}, nil
}
