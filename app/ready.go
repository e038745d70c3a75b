package app

import (
	"context"
	"sync"
	"time"

	"citywatch/dashboards"
	"citywatch/internal/diskprobe"
	"citywatch/internal/sqlitedb"
)

const (
	// readyProbeEvery is how long a storage write probe's result is reused: /readyz is public and polled, and
	// must not become a way to hammer the disk; a full disk is still seen within seconds.
	readyProbeEvery = 2 * time.Second
	// readyProbeTimeout bounds the metadata database probe's wait for the write lock.
	readyProbeTimeout = 5 * time.Second
)

// storageChecks are the readiness checks that write: the TSDB's directory, the metadata database (a commit
// through its write lock, WAL and fsync) and the data directory (clips, snapshots, queues). Each turns
// citywatch unready while it cannot take writes: ingest would go unacknowledged and token creation or an
// alert change would fail, so a load balancer should send users elsewhere.
func (a *App) storageChecks() []dashboards.Check {
	return []dashboards.Check{
		a.storageCheck("tsdb", a.db.Ready),
		a.storageCheck("metadata_db", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), readyProbeTimeout)
			defer cancel()
			return sqlitedb.Probe(ctx, a.meta)
		}),
		a.storageCheck("data_dir", func() error { return diskprobe.Write(a.cfg.DataDir) }),
	}
}

// storageCheck caches probe for readyProbeEvery and logs when its outcome changes, so an operator who may not
// read the /readyz detail finds the reason in the log.
func (a *App) storageCheck(name string, probe func() error) dashboards.Check {
	log := a.log.With("component", "ready", "check", name)
	var mu sync.Mutex
	last := ""
	logged := func() error {
		err := probe()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case msg == last:
		case err != nil:
			log.Error("storage cannot take writes: not ready", "err", err)
		default:
			log.Info("storage takes writes again")
		}
		last = msg
		return err
	}
	return dashboards.Check{Name: name, Err: dashboards.Cached(readyProbeEvery, logged)}
}
