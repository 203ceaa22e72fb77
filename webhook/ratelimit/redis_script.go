package ratelimit

import (
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript runs GCRA and calendar quotas over all the keys of one check,
// all or nothing, on Redis's clock. KEYS[i] is one rule's counter. For a
// rolling rule, ARGV[2i-1] and ARGV[2i] are its emission interval and
// capacity in microseconds (Lua numbers are doubles: microseconds since the
// epoch are exact, nanoseconds are not). For a quota, ARGV[2i-1] is minus
// its limit and ARGV[2i] the end of its window in Unix microseconds; the
// key holds that end plus the count (see quota.go). It returns {admitted
// (1|0), now, one number per key}: a rolling rule's TAT, a quota's now plus
// its count; after the charge when admitted, as found when refused. Each
// key expires when it has fully recovered or its window is over, so keys
// go away on their own.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local vals = {}
local ok = 1
for i = 1, #KEYS do
  local a, b = tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i])
  local v = tonumber(redis.call('GET', KEYS[i]))
  if a > 0 then
    local tat = v or now
    if tat < now then tat = now end
    vals[i] = tat
    if tat + a - now > b then ok = 0 end
  else
    local c = 0
    if v and v >= b and v - b <= 1073741824 then c = v - b end
    vals[i] = c
    if c + 1 > -a then ok = 0 end
  end
end
local out = {ok, now}
for i = 1, #KEYS do
  local a, b = tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i])
  local v = vals[i]
  if a > 0 then
    if ok == 1 then
      v = v + a
      redis.call('SET', KEYS[i], string.format('%d', v), 'PX', math.ceil((v - now) / 1000) + 1)
    end
  else
    if ok == 1 then
      v = v + 1
      redis.call('SET', KEYS[i], string.format('%d', b + v), 'PX', math.max(math.ceil((b - now) / 1000), 0) + 1000)
    end
    v = now + v
  end
  out[i + 2] = v
end
return out
`)

// scriptArgs builds the script's KEYS and ARGV for the slots.
func scriptArgs(slots []slot) (keys []string, args []any) {
	keys = make([]string, len(slots))
	args = make([]any, 0, 2*len(slots))
	for i := range slots {
		r := slots[i].r
		keys[i] = redisKey(r, slots[i].value)
		args = appendArgs(args, &slots[i])
	}
	return keys, args
}

// parseScriptResult reads the script's answer into the slots' TATs.
func parseScriptResult(res any, slots []slot) (admitted bool, now int64, err error) {
	vals, ok := res.([]any)
	if !ok || len(vals) != len(slots)+2 {
		return false, 0, fmt.Errorf("unexpected rate-limit script result %T of length %d", res, len(vals))
	}
	ints := make([]int64, len(vals))
	for i, v := range vals {
		switch n := v.(type) {
		case int64:
			ints[i] = n
		case string: // RESP3 servers may answer doubles as strings
			if ints[i], err = strconv.ParseInt(n, 10, 64); err != nil {
				return false, 0, fmt.Errorf("rate-limit script result %d: %w", i, err)
			}
		default:
			return false, 0, fmt.Errorf("rate-limit script result %d has type %T", i, v)
		}
	}
	for i := range slots {
		slots[i].tat = ints[i+2]
	}
	return ints[0] == 1, ints[1], nil
}

// decideRedis turns the script's answer into a Decision.
func decideRedis(slots []slot, now int64, admitted bool) Decision {
	for i := range slots {
		slots[i].usWindow() // a cluster's groups ran on copies of the slots
	}
	var d Decision
	decide(&d, slots, now, admitted, usParams, time.Microsecond)
	count(slots, &d)
	return d
}
