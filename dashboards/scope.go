package dashboards

import (
	"github.com/prometheus/prometheus/storage"

	"citywatch/dashboards/promapi"
)

// ScopeToSites wraps the storage the Prometheus API reads so that a principal limited to some sites reads
// exactly their sites' series (promapi.ScopeToSites, which says why it sits below every query form and fails
// closed). promapi.New applies it itself, so no caller can forget it; this name stays for the callers that
// read a storage on a user's behalf outside the API.
func ScopeToSites(q storage.Queryable) storage.Queryable { return promapi.ScopeToSites(q) }
