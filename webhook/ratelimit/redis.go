package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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
	URL string
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
	client *redis.Client
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

// CheckURL reports whether raw is a Redis URL NewRedis accepts. Its error,
// like NewRedis's, never contains the URL: it may hold a password.
func CheckURL(raw string) error {
	_, err := parseURL(raw)
	return err
}

func parseURL(raw string) (*redis.Options, error) {
	ro, err := redis.ParseURL(raw)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("rate-limit Redis URL (not shown: it may hold a password): %w", err)
	}
	return ro, nil
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
	ro, err := parseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	setTimeouts(ro)
	s := &redisStore{
		client: redis.NewClient(ro), onError: opts.OnError, log: opts.Logger,
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
	ctx, cancel := context.WithTimeout(context.Background(), ro.DialTimeout)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
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

// setTimeouts shortens go-redis's defaults (5s to dial, 3s to read): a
// check waits for Redis, so a dead Redis must be noticed quickly.
func setTimeouts(o *redis.Options) {
	if o.DialTimeout == 0 {
		o.DialTimeout = time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 500 * time.Millisecond
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 500 * time.Millisecond
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 1 // one retry covers a pooled connection Redis closed
	}
}

// check runs the GCRA script in one round trip, or applies OnError.
func (s *redisStore) check(ctx context.Context, slots []slot) (Decision, error) {
	if !s.fallback.Load() {
		keys, args := scriptArgs(slots)
		res, err := gcraScript.Run(ctx, s.scripter, keys, args...).Result()
		if err == nil {
			admitted, now, perr := parseScriptResult(res, slots)
			if perr == nil {
				return decideRedis(slots, now, admitted), nil
			}
			err = perr
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
	return s.local.check(slots), nil
}

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
		err := s.client.Ping(ctx).Err()
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
