package app

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"

	"citywatch/store/tsdb"
)

// occupantSeries is retention's view of the embedded TSDB (retention.Series): at an occupant's purge it deletes
// the site's series labelled with their case id — the ward's ward_occupant_info, ward_round_missed,
// ward_wearable_removed and ward_possible_leave, and any recording rule's output that kept the label — so the
// TSDB no longer ties the case id to a wearable and its readings until storage.retention. Case ids are unique
// per site, so all time is safe to delete.
type occupantSeries struct{ db *tsdb.DB }

func (s occupantSeries) DeleteSeries(ctx context.Context, site, caseID string) (int, error) {
	return s.db.DeleteSeries(ctx, labels.MustNewMatcher(labels.MatchEqual, "site", site),
		labels.MustNewMatcher(labels.MatchEqual, "case_id", caseID))
}

func (s occupantSeries) CleanTombstones() error { return s.db.CleanTombstones() }
