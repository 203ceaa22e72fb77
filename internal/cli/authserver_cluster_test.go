package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRedisClusterFlag: --redis-cluster reads the Redis URL, from the
// flag, its file or KEYGATE_REDIS_URL, as go-redis's cluster URL; it needs
// a URL, refuses a database other than 0 and a single-server URL holding
// addr= without it, and no error shows the password.
func TestRedisClusterFlag(t *testing.T) {
	const clusterURL = "redis://:s3cret@r0:6379?addr=r1:6379&addr=r2:6379"
	file := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(file, []byte(clusterURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := parseAuthServerFlags([]string{"--redis-cluster", "--redis-url-file=" + file}, io.Discard)
	if err != nil || !f.opts.RedisCluster || f.opts.RedisURL != clusterURL {
		t.Fatalf("--redis-cluster --redis-url-file: %+v, %v", f, err)
	}
	t.Setenv(redisURLEnv, clusterURL)
	if f, err = parseAuthServerFlags([]string{"--redis-cluster"}, io.Discard); err != nil || f.opts.RedisURL != clusterURL {
		t.Fatalf("--redis-cluster with %s: %q, %v", redisURLEnv, f.opts.RedisURL, err)
	}
	t.Setenv(redisURLEnv, "")
	for _, bad := range [][]string{
		{"--redis-cluster"},
		{"--redis-cluster", "--redis-url=redis://:s3cret@r0:6379/2"},
		{"--redis-cluster", "--redis-url=redis://:s3cret@r0:6379?addr=r1"},
		{"--redis-url=" + clusterURL},
	} {
		_, err := parseAuthServerFlags(bad, io.Discard)
		if err == nil {
			t.Errorf("%v: no error", bad)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: the error shows the password: %v", bad, err)
		}
	}
}
