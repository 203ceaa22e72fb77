package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	"k8s.io/utils/clock"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// What a Redis limiter does while Redis is unreachable.
const (
	// OnErrorLocal counts in this process's memory until Redis is back.
	OnErrorLocal = "local"
	// OnErrorDeny makes Check return an error wrapping ErrUnavailable.
	OnErrorDeny = "deny"
	// OnErrorAllow admits every request without counting it.
	OnErrorAllow = "allow"
)

// ErrUnavailable is wrapped by Check's error when Redis is unreachable and
// OnError is "deny": the server should refuse the request (503).
var ErrUnavailable = errors.New("rate limiter unavailable")

// DefaultProbeInterval is how often an unreachable Redis is pinged.
const DefaultProbeInterval = time.Second

// RedisOptions configure a limiter that keeps its counters in Redis.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port[/db] (rediss:// for TLS).
	// With Cluster, it names seed nodes of a Redis Cluster (or Valkey
	// Cluster) in go-redis's cluster URL form: redis://[user:password@]
	// host:port?addr=host2:port2&addr=host3:port3, database 0 only.
	URL string
	// Cluster selects go-redis's cluster client: it learns the slots from
	// the seed nodes, and follows MOVED and ASK redirects and failovers.
	Cluster bool
	// OnError is "local" (the default), "deny" or "allow".
	OnError string
	// Clock and MaxEntries configure the local fallback's memory limiter.
	Clock      clock.PassiveClock
	MaxEntries int
	// ProbeInterval: how often an unreachable Redis is pinged; 0 means
	// DefaultProbeInterval.
	ProbeInterval time.Duration
	// NoAutoPipeline sends each check on its own connection turn instead
	// of batching concurrent checks into pipelines. Batching gives about
	// twice the checks per second on a busy 2-core machine, at the cost of
	// about 80µs more latency for a lone caller.
	NoAutoPipeline bool
	// Logger receives the lines logged when Redis goes away and comes
	// back; the zero value means controller-runtime's logger.
	Logger logr.Logger
	// Metrics counts Redis errors and the fallback; nil means collectors
	// that nothing exports.
	Metrics *Metrics
}

// redisStore counts in Redis and applies OnError while it is unreachable.
type redisStore struct {
	client  redis.UniversalClient
	cluster bool
	// scripter runs the script: the client, or its autopipeliner, which
	// sends concurrent checks in one write (each still one EVALSHA).
	scripter redis.Scripter
	onError  string
	local    *memStore // nil unless onError is local
	log      logr.Logger
	metrics  *Metrics
	interval time.Duration
	fallback atomic.Bool

	mu     sync.Mutex // guards closed and starting probes
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// CheckURL reports whether raw is a Redis URL NewRedis accepts, as a
// cluster URL when cluster is set. Its error, like NewRedis's, never
// contains the URL: it may hold a password.
func CheckURL(raw string, cluster bool) error {
	_, err := newClient(raw, cluster)
	return err
}

// newClient parses the URL with go-redis and builds the client, without
// connecting.
func newClient(raw string, cluster bool) (redis.UniversalClient, error) {
	if !cluster {
		ro, err := redis.ParseURL(raw)
		if err != nil {
			if u, uerr := url.Parse(raw); uerr == nil && u.Query().Has("addr") {
				err = fmt.Errorf("%w (addr= lists the nodes of a Redis Cluster: the URL is a cluster's only with the cluster option, --redis-cluster)", err)
			}
			return nil, urlError(err, "")
		}
		setTimeouts(&ro.DialTimeout, &ro.ReadTimeout, &ro.WriteTimeout, &ro.MaxRetries)
		return redis.NewClient(ro), nil
	}
	co, err := redis.ParseClusterURL(raw)
	if err != nil {
		return nil, urlError(err, "cluster ")
	}
	// ParseClusterURL ignores the path; a cluster has database 0 only.
	if u, _ := url.Parse(raw); u.Path != "" && u.Path != "/" && u.Path != "/0" {
		return nil, urlError(errors.New("a Redis Cluster has database 0 only: remove the path"), "cluster ")
	}
	setTimeouts(&co.DialTimeout, &co.ReadTimeout, &co.WriteTimeout, &co.MaxRetries)
	return redis.NewClusterClient(co), nil
}

func urlError(err error, kind string) error {
	// url.Parse's error quotes the whole URL, password included.
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("rate-limit Redis %sURL (not shown: it may hold a password): %w", kind, err)
}

// NewRedis returns a limiter that counts in the Redis at opts.URL, shared by
// every replica that uses it. A Redis that cannot be reached yet is not an
// error: the limiter starts in its OnError mode and switches to Redis when
// it answers.
func NewRedis(opts RedisOptions) (*Limiter, error) {
	switch opts.OnError {
	case "":
		opts.OnError = OnErrorLocal
	case OnErrorLocal, OnErrorDeny, OnErrorAllow:
	default:
		return nil, fmt.Errorf("rate-limit Redis: OnError %q is not local, deny or allow", opts.OnError)
	}
	client, err := newClient(opts.URL, opts.Cluster)
	if err != nil {
		return nil, err
	}
	s := &redisStore{
		client: client, cluster: opts.Cluster, onError: opts.OnError, log: opts.Logger,
		interval: opts.ProbeInterval, stop: make(chan struct{}), metrics: orUnexported(opts.Metrics),
	}
	if s.log.GetSink() == nil {
		s.log = ctrllog.Log.WithName("ratelimit")
	}
	quietRedisOnce.Do(func() { redis.SetLogger(debugLogger{s.log.WithName("go-redis")}) })
	if s.interval <= 0 {
		s.interval = DefaultProbeInterval
	}
	if err := s.pipeline(opts.NoAutoPipeline); err != nil {
		_ = s.client.Close()
		return nil, err
	}
	l := &Limiter{redis: s}
	if s.onError == OnErrorLocal {
		s.local = newMemStore(opts.MaxEntries, opts.Clock, 0, s.metrics)
		l.mem = s.local
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.healthy(ctx); err != nil {
		s.enterFallback(fmt.Errorf("pinging Redis at start: %w", err))
	}
	return l, nil
}

// quietRedisOnce moves go-redis's own log lines (one per failed dial, so
// one a second while Redis is down) to debug level, once per process:
// the limiter logs each switch to and from the fallback itself.
var quietRedisOnce sync.Once

type debugLogger struct{ log logr.Logger }

func (d debugLogger) Printf(_ context.Context, format string, v ...any) {
	d.log.V(1).Info(fmt.Sprintf(format, v...))
}

// pipeline picks what runs the script. go-redis marks its autopipeliner
// experimental; go.mod pins the version, and the Redis tests run through it.
func (s *redisStore) pipeline(off bool) error {
	s.scripter = s.client
	if off {
		return nil
	}
	ap, err := s.client.AutoPipeline()
	if err != nil {
		return fmt.Errorf("rate-limit Redis autopipeline: %w", err)
	}
	s.scripter = ap
	return nil
}

// startTimeout bounds NewRedis's first ping: a dial (dialTimeout) and an
// answer.
const startTimeout = 2 * time.Second

// setTimeouts shortens go-redis's defaults (5s to dial, 3s to read) where
// the URL sets none: a check waits for Redis, so a dead Redis must be
// noticed quickly.
func setTimeouts(dial, read, write *time.Duration, retries *int) {
	if *dial == 0 {
		*dial = time.Second
	}
	if *read == 0 {
		*read = 500 * time.Millisecond
	}
	if *write == 0 {
		*write = 500 * time.Millisecond
	}
	if *retries == 0 {
		*retries = 1 // one retry covers a pooled connection Redis closed
	}
}

// check runs the GCRA script in one round trip, or applies OnError.
func (s *redisStore) check(ctx context.Context, slots []slot) (Decision, error) {
	if !s.fallback.Load() {
		d, err := s.run(ctx, slots)
		if err == nil {
			return d, nil
		}
		if ctx.Err() != nil {
			return Decision{}, fmt.Errorf("rate-limit check: %w", ctx.Err())
		}
		s.metrics.redisErrors.Inc()
		s.enterFallback(err)
	}
	switch s.onError {
	case OnErrorAllow:
		return Decision{Allowed: true}, nil
	case OnErrorDeny:
		return Decision{}, fmt.Errorf("%w: Redis is unreachable", ErrUnavailable)
	}
	var d Decision
	s.local.check(slots, time.Time{}, &d)
	return d, nil
}

// run counts the slots in Redis: one script call on a single server; on a
// cluster, one per hash tag (see runCluster).
func (s *redisStore) run(ctx context.Context, slots []slot) (Decision, error) {
	if s.cluster && !sameTag(slots) {
		return s.runCluster(ctx, slots)
	}
	admitted, now, err := s.runScript(ctx, slots)
	if err != nil {
		return Decision{}, err
	}
	return decideRedis(slots, now, admitted), nil
}

// runScript runs the GCRA script over the slots, all or nothing, and
// stores each slot's TAT.
func (s *redisStore) runScript(ctx context.Context, slots []slot) (admitted bool, now int64, err error) {
	keys, args := scriptArgs(slots)
	res, err := gcraScript.Run(ctx, s.scripter, keys, args...).Result()
	if err != nil {
		return false, 0, fmt.Errorf("rate-limit script: %w", err)
	}
	return parseScriptResult(res, slots)
}

// healthy reports whether Redis can serve checks: a single server answers
// PING; every master of a cluster says cluster_state:ok (a cluster missing
// a master refuses every key while its slots are uncovered).
func (s *redisStore) healthy(ctx context.Context) error {
	cc, ok := s.client.(*redis.ClusterClient)
	if !ok {
		return s.client.Ping(ctx).Err()
	}
	return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		info, err := c.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("master %s: %w", c.Options().Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("master %s: cluster state is not ok", c.Options().Addr)
		}
		return nil
	})
}

// redisKey names a rule's counter for a value:
// "keygate:rl:v2:{<tag>}:<namespace>/<policy>:<rule>", where the tag is the
// hex of a SHA-256 prefix of the value. The value is hashed: keys stay short
// whatever a header holds, Redis never sees an IP or subject in the clear,
// and no byte of the value (a "{" or "}" from a header, a JWT's sub) can
// reach the key, so the hash tag is always the hash. Redis Cluster hashes
// only the tag, the first {...} of a key: every counter of one value is in
// one slot, whatever the rule or policy, and values spread evenly over the
// slots.
func redisKey(r *rule, value string) string {
	sum := sha256.Sum256([]byte(value))
	var hexSum [32]byte
	hex.Encode(hexSum[:], sum[:16])
	var b strings.Builder
	b.Grow(len(redisKeyPrefix) + len(hexSum) + 3 + len(r.policy) + len(r.name))
	b.WriteString(redisKeyPrefix)
	b.WriteByte('{')
	b.Write(hexSum[:])
	b.WriteString("}:")
	b.WriteString(r.policy)
	b.WriteByte(':')
	b.WriteString(r.name)
	return b.String()
}

// redisKeyPrefix starts every counter's key; v2 keys carry a hash tag.
const redisKeyPrefix = "keygate:rl:v2:"

// enterFallback switches to the OnError mode once, logs it, and starts the
// probe that switches back.
func (s *redisStore) enterFallback(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.fallback.CompareAndSwap(false, true) {
		return
	}
	s.metrics.fallback.Set(1)
	s.log.Error(err, "Redis is unreachable; rate limits follow OnError until it answers again", "onError", s.onError)
	s.wg.Add(1)
	go s.probe()
}

// probe pings Redis every interval and switches back to it when it answers.
func (s *redisStore) probe() {
	defer s.wg.Done()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.interval)
		err := s.healthy(ctx)
		cancel()
		if err == nil {
			s.fallback.Store(false)
			s.metrics.fallback.Set(0)
			s.log.Info("Redis answers again; rate limits are counted in Redis")
			return
		}
	}
}

func (s *redisStore) close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	if s.fallback.Load() {
		s.metrics.fallback.Set(0)
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("closing Redis client: %w", err)
	}
	return nil
}
