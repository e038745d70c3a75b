package alerts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/template"
)

// templateDefs are prepended to every label and annotation template, as Prometheus does, so that rules can
// use $labels, $value, $externalLabels and $externalURL.
const templateDefs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}" +
	"{{$externalURL := .ExternalURL}}{{$value := .Value}}"

// checkTemplate parses text as an alert template; it reports syntax errors and unknown functions.
func checkTemplate(text string) error {
	if !strings.Contains(text, "{{") {
		return nil
	}
	exp := template.NewTemplateExpander(context.Background(), templateDefs+text, "check", nil, 0, nil, nil, nil)
	if err := exp.ParseTest(); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	return nil
}

// expandTemplate renders text for an alert with the given labels and value. A template that fails at
// execution (e.g. humanize of a non-number) renders as the error text, as in Prometheus, rather than hiding
// the alert.
func expandTemplate(ctx context.Context, text string, lbls map[string]string, value float64, ts time.Time,
	query template.QueryFunc, externalURL string,
) string {
	if !strings.Contains(text, "{{") {
		return text
	}
	data := template.AlertTemplateData(lbls, nil, externalURL, promql.Sample{F: value})
	exp := template.NewTemplateExpander(ctx, templateDefs+text, "alert", data, model.TimeFromUnixNano(ts.UnixNano()),
		query, nil, nil)
	out, err := exp.Expand()
	if err != nil {
		return fmt.Sprintf("<error expanding template: %v>", err)
	}
	return out
}
