// Package alerts evaluates alerting rules (PromQL over the embedded TSDB, and event rules fed by cameras and
// ingest), keeps the alert lifecycle (pending, firing, resolved, acknowledged, assigned) in SQLite, applies
// silences, inhibition and grouping, and hands notifications to the durable outbox (notify.Enqueuer) in the
// same transaction as the state change they report.
//
// # Semantics
//
// Expression rules follow Prometheus: every series the expression returns is an alert, pending until the
// condition has held for `for`, then firing; it resolves when the series is no longer returned, after
// `keep_firing_for`. Missing data does not flap: a series counts as present until it has had no sample for
// the PromQL lookback (Config.LookbackDelta, 5m), and a failing query leaves alerts as they are. Label
// templates see the series labels; annotation templates see the final alert labels, and both see $value.
//
// Event rules (camera_offline, camera_tamper, zone_motion, device_silent, ingest_rejected, ingest_stalled)
// consume Event values passed to (*Manager).Event. Their state is rebuilt from the persisted alerts after a restart, so a
// firing camera-offline alert stays firing until the camera reports "online".
//
// # Persistence and notifications
//
// Each evaluation stages all changes on copies, writes them and enqueues their notifications in one
// transaction, and only then makes them current; a failed commit changes nothing and is retried at the next
// evaluation. After a restart firing alerts stay firing without a new notification, and pending alerts keep
// active_at. Notifications are grouped by Grouping.GroupBy with Alertmanager's group_wait, group_interval and
// repeat_interval; silenced or inhibited alerts are not notified (their state still changes), acknowledged
// alerts get no reminders, and an alert whose firing was notified always gets its resolution notice, with
// the outage duration measured from active_at (when the condition started).
//
// # Device silence
//
// Per-device dead-man alerts are best written in PromQL over device_last_seen_seconds, which the ingest
// device registry exports for every known device, growing while the device is quiet: the default rule pack's
// WearableSilent combines that with last_over_time(...[1d]) unless the current series, which also catches
// devices the in-memory registry forgot across a restart. The device_silent event rule is the alternative
// for sources that emit "device_seen" events (a dead man per any label set, By); its state is in memory, so
// after a restart it only knows devices that have reported since, plus those already alerting.
package alerts
