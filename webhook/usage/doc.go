// Package usage tells the controller which keys the auth server admits,
// so that an ApiKey's status can show when it was last used, without the
// auth server writing ApiKeys or reaching outside keygate's namespace.
//
// The contract:
//
//   - On the hot path, Recorder.Record stores the current coarse time on
//     the admitted key's index entry: no allocation, no lock, no clock
//     read, and a store only when the entry's time moves forward (at most
//     once per key per flush interval), so hot keys do not bounce cache
//     lines between cores.
//   - Every flush interval, the Flusher moves the Recorder's time forward,
//     reads the entries of the index, and writes this replica's
//     UsageReport (named after its pod, in keygate's namespace) by
//     server-side apply, only when what it would write changed. A failed
//     write is logged, counted and retried at the next interval; a check
//     never waits for it. On shutdown it writes once more.
//   - A report holds at most MaxKeys keys and about MaxBytes of JSON; the
//     least recently used are left out first, counted in spec.dropped and
//     keygate_usage_report_dropped_keys. Keys are named by ApiKey
//     namespace and name and by keyId (the first 12 hex characters of the
//     key's SHA-256); never a key.
//   - A replica that stops loses what it admitted since its last write: at
//     most one flush interval.
package usage
