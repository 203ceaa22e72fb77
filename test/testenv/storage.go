package testenv

import (
	"bufio"
	"bytes"
	"context"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// StorageSize is the size of etcd's database as the API server reports it
// (apiserver_storage_size_bytes on its /metrics; 0 when the metric is
// missing). The scale benchmarks divide its growth by the objects written.
func (e *Env) StorageSize(ctx context.Context) (int64, error) {
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return 0, err
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "apiserver_storage_size_bytes") {
			f := strings.Fields(l)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			return int64(v), err
		}
	}
	return 0, sc.Err()
}
