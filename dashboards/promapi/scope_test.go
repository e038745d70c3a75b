package promapi

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
)

// scopeCases are principals and what ScopeToSites must hand the storage for a query of up{}: the series they
// may read (by name in scopeSeries) and the matchers. A series without a site label is nobody's.
var scopeCases = []struct {
	name      string
	principal *auth.Principal // nil: no principal (rule evaluation)
	want      []string
	matchers  []string
}{
	{name: "no principal reads everything", want: []string{"a", "b", "nosite"}, matchers: []string{`__name__="up"`}},
	{name: "admin reads everything", principal: &auth.Principal{Role: auth.RoleAdmin},
		want: []string{"a", "b", "nosite"}, matchers: []string{`__name__="up"`}},
	// site=~"a" alone keeps series without a site out; site!="" would make the TSDB merge the postings of
	// every site value in each query.
	{name: "one site", principal: &auth.Principal{Role: auth.RoleViewer, Sites: []string{"a"}},
		want: []string{"a"}, matchers: []string{`__name__="up"`, `site=~"a"`}},
	{name: "two sites, quoted", principal: &auth.Principal{Role: auth.RoleViewer, Sites: []string{"a", "b.c"}},
		want: []string{"a"}, matchers: []string{`__name__="up"`, `site=~"a|b\\.c"`}},
	{name: "no sites fails closed", principal: &auth.Principal{Role: auth.RoleViewer},
		want: nil, matchers: []string{`__name__="up"`, `site=~""`, `site!=""`}},
	{name: "a site named empty reads no series without a site", principal: &auth.Principal{Role: auth.RoleViewer, Sites: []string{"a", ""}},
		want: []string{"a"}, matchers: []string{`__name__="up"`, `site=~"a|"`, `site!=""`}},
}

// scopeSeries are the series the recording storage holds, by name.
var scopeSeries = map[string]labels.Labels{
	"a":      labels.FromStrings("__name__", "up", "site", "a"),
	"b":      labels.FromStrings("__name__", "up", "site", "b"),
	"nosite": labels.FromStrings("__name__", "up"),
}

func TestScopeToSitesMatchers(t *testing.T) {
	for _, tc := range scopeCases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingQueryable{}
			q, err := ScopeToSites(rec).Querier(0, 1)
			require.NoError(t, err)
			ctx := context.Background()
			if tc.principal != nil {
				ctx = auth.NewContext(ctx, *tc.principal)
			}
			q.Select(ctx, false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "up"))
			var got []string
			for _, m := range rec.matchers {
				got = append(got, m.String())
			}
			require.Equal(t, tc.matchers, got)
			require.Equal(t, tc.want, selected(rec.matchers))
		})
	}
}

// selected is the names of scopeSeries that all of ms match, sorted.
func selected(ms []*labels.Matcher) []string {
	var out []string
	for name, ls := range scopeSeries {
		if !slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return !m.Matches(ls.Get(m.Name)) }) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// recordingQueryable records the matchers of the last Select.
type recordingQueryable struct{ matchers []*labels.Matcher }

func (r *recordingQueryable) Querier(int64, int64) (storage.Querier, error) {
	return recordingQuerier{r: r}, nil
}

type recordingQuerier struct {
	storage.Querier // nil: only Select is called
	r               *recordingQueryable
}

func (q recordingQuerier) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	q.r.matchers = ms
	return storage.EmptySeriesSet()
}
