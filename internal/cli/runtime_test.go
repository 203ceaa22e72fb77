package cli

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

func TestSetMemoryLimit(t *testing.T) {
	cases := []struct {
		name      string
		env       map[string]string
		want      int64
		wantInLog string
	}{
		{name: "no container limit", env: map[string]string{}, want: 0},
		{name: "512Mi", env: map[string]string{memoryLimitEnv: "536870912"}, want: 483183821, wantInLog: `"goBytes":483183821`},
		{name: "GOMEMLIMIT wins", env: map[string]string{memoryLimitEnv: "536870912", "GOMEMLIMIT": "300MiB"}, want: 0, wantInLog: "GOMEMLIMIT"},
		{name: "not bytes", env: map[string]string{memoryLimitEnv: "512Mi"}, want: 0, wantInLog: "not a number of bytes"},
		{name: "zero", env: map[string]string{memoryLimitEnv: "0"}, want: 0, wantInLog: "not a number of bytes"},
		{name: "negative", env: map[string]string{memoryLimitEnv: "-1"}, want: 0, wantInLog: "not a number of bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := logr.FromSlogHandler(slog.NewJSONHandler(&buf, nil))
			var set int64
			got := setMemoryLimit(func(k string) string { return c.env[k] }, func(v int64) int64 { set = v; return 0 }, log)
			if got != c.want || set != c.want {
				t.Errorf("limit %d, runtime given %d; want %d", got, set, c.want)
			}
			if c.wantInLog != "" && !strings.Contains(buf.String(), c.wantInLog) {
				t.Errorf("log %q lacks %q", buf.String(), c.wantInLog)
			}
		})
	}
}
