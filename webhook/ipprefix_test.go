package webhook

import (
	"testing"

	"github.com/keygate-dev/keygate/webhook/check"
)

// TestIPRulesCountNetworksNotAddresses: a host with an IPv6 /64 has 2^64
// addresses; counting each address alone would give it as many buckets.
// by: ip counts IPv6 clients per /64 (and IPv4 ones per /32) unless told
// otherwise; an IPv4-mapped IPv6 address is its IPv4 address, not one
// /64 shared by every IPv4 client.
func TestIPRulesCountNetworksNotAddresses(t *testing.T) {
	cases := []struct {
		name      string
		v4, v6    int
		addrs     []string // from one network: the third is refused (per-ip: 2/min)
		elsewhere string   // another network: admitted
	}{
		{"IPv6 per /64 by default", 0, 0,
			[]string{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2:abcd::5"}, "2001:db8:1:3::1"},
		{"IPv6 per /48 when told", 0, 48,
			[]string{"2001:db8:1:2::1", "2001:db8:1:7::1", "2001:db8:1:ffff::1"}, "2001:db8:2::1"},
		{"IPv4 per /24 when told", 24, 0,
			[]string{"203.0.113.1", "203.0.113.200", "203.0.113.77"}, "203.0.114.1"},
		{"IPv4-mapped is IPv4", 0, 0,
			[]string{"::ffff:203.0.113.7", "203.0.113.7", "::ffff:203.0.113.7"}, "::ffff:203.0.113.8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.IPv4Prefix, c.IPv6Prefix = tc.v4, tc.v6 })
			do := func(ip string) string {
				return code(t, h.do(nginxReq("?policy=acme/strict&auth=none", "https://api.acme.com/x", "X-Forwarded-For", ip)))
			}
			for i, ip := range tc.addrs {
				want := ""
				if i == 2 {
					want = check.CodeRateLimited
				}
				if got := do(ip); got != want {
					t.Fatalf("request %d from %s: %q, want %q", i, ip, got, want)
				}
			}
			if got := do(tc.elsewhere); got != "" {
				t.Fatalf("another network %s: %q", tc.elsewhere, got)
			}
		})
	}
}

// TestRateLimitIPKeepsIPv4Unallocated: the common case, an IPv4 client
// at /32, costs a parse and no allocation.
func TestRateLimitIPKeepsIPv4Unallocated(t *testing.T) {
	d := &check.Decider{}
	if n := testing.AllocsPerRun(100, func() { _ = d.RateLimitIP("203.0.113.7") }); n != 0 {
		t.Fatalf("an IPv4 /32 key allocates %v times", n)
	}
	for in, want := range map[string]string{
		"203.0.113.7":       "203.0.113.7",
		"2001:db8::1":       "2001:db8::/64",
		"::ffff:192.0.2.1":  "192.0.2.1",
		"fe80::1%eth0":      "fe80::/64",
		"unknown-peer-form": "unknown-peer-form",
		"":                  "",
	} {
		if got := d.RateLimitIP(in); got != want {
			t.Errorf("RateLimitIP(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRateLimitIPIsOneKeyPerAddress: at full length (--ip-prefix-v6=128)
// the spellings of one IPv6 address (case, zero runs, a zone) are one
// client, as they are at any shorter prefix.
func TestRateLimitIPIsOneKeyPerAddress(t *testing.T) {
	d := &check.Decider{IPv6Prefix: 128}
	want := d.RateLimitIP("2001:db8::1")
	for _, ip := range []string{"2001:DB8::1", "2001:db8:0:0::1", "2001:0db8::0001", "2001:db8::1%eth0"} {
		if got := d.RateLimitIP(ip); got != want {
			t.Errorf("RateLimitIP(%q) = %q, but RateLimitIP(2001:db8::1) = %q: one address, two counters", ip, got, want)
		}
	}
}
