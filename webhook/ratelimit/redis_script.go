package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript runs GCRA over all the keys of one check, all or nothing, on
// Redis's clock. KEYS[i] is one rule's counter; ARGV[2i-1] and ARGV[2i] are
// that rule's emission interval and capacity in microseconds (Lua numbers
// are doubles: microseconds since the epoch are exact, nanoseconds are
// not). It returns {admitted (1|0), now, TAT of each key}: after the charge
// when admitted, as found when refused. Each stored TAT expires when it has
// fully recovered, so keys go away on their own.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
local ok = 1
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  tats[i] = tat
  if tat + tonumber(ARGV[2*i-1]) - now > tonumber(ARGV[2*i]) then ok = 0 end
end
local out = {ok, now}
for i = 1, #KEYS do
  local tat = tats[i]
  if ok == 1 then
    tat = tat + tonumber(ARGV[2*i-1])
    redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
  end
  out[i + 2] = tat
end
return out
`)

// redisKey names a rule's counter for a value. The value is hashed: keys
// stay short whatever a header holds, and Redis never sees an IP or subject
// in the clear.
func redisKey(r *rule, value string) string {
	sum := sha256.Sum256([]byte(value))
	var hexSum [32]byte
	hex.Encode(hexSum[:], sum[:16])
	var b strings.Builder
	b.Grow(len(r.redisPrefix) + len(hexSum))
	b.WriteString(r.redisPrefix)
	b.Write(hexSum[:])
	return b.String()
}

// scriptArgs builds the script's KEYS and ARGV for the slots.
func scriptArgs(slots []slot) (keys []string, args []any) {
	keys = make([]string, len(slots))
	args = make([]any, 0, 2*len(slots))
	for i := range slots {
		r := slots[i].r
		keys[i] = redisKey(r, slots[i].value)
		args = append(args, r.usArgs[:]...)
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
	d := decide(slots, now, admitted, usParams, time.Microsecond)
	count(slots, &d)
	return d
}
