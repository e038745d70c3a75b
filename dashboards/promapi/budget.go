package promapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// Why budgets: one viewer's `count_over_time({__name__=~".+"}[1h:50ms])` over 400 series makes the engine
// hold 72,000 points per series, 28.8 million samples in all; nine of them in parallel took the process from
// 58 MiB to 4 GiB. The engine's own MaxSamples bounds one query, a gate bounds how many run at once, and the
// static check below refuses such a query before it allocates anything.

// Rejection reasons, the values of citywatch_query_rejected_total{reason}.
const (
	reasonConcurrency = "concurrency" // no slot free within the queue wait
	reasonSamples     = "samples"     // the engine's MaxSamples was reached
	reasonTimeout     = "timeout"     // the query ran out of time
	reasonStep        = "step"        // a range query or subquery step below the floor
	reasonPoints      = "points"      // a range query or subquery with too many points per series
)

var rejectReasons = []string{reasonConcurrency, reasonSamples, reasonTimeout, reasonStep, reasonPoints, reasonRate}

// budgetError is a query refused by checkQuery: a bad_data answer counted under reason.
type budgetError struct {
	reason string
	err    error
}

func (e *budgetError) Error() string { return e.err.Error() }

// exprBudget is what checkQuery enforces.
type exprBudget struct {
	minStep   time.Duration // smallest range-query and subquery step
	maxPoints int64         // most points per series of a range query and of one subquery
}

// checkQuery refuses a parsed query whose shape alone exceeds the budget: a range query step (step > 0) or a
// subquery step below minStep, or a subquery whose range/step exceeds maxPoints. start, end and step are the
// query's (start == end, step 0 for an instant query); they resolve duration expressions such as step(). It
// returns a *budgetError, or the error of resolving the expression (a bad query).
func checkQuery(expr parser.Expr, start, end time.Time, step time.Duration, b exprBudget) error {
	if step > 0 && step < b.minStep {
		return &budgetError{reasonStep, fmt.Errorf("query resolution step %s is below the minimum of %s. Try increasing the query resolution (?step=XX)", step, b.minStep)}
	}
	if step > 0 && int64(end.Sub(start)/step) > b.maxPoints {
		return &budgetError{reasonPoints, fmt.Errorf("exceeded maximum resolution of %d points per timeseries. Try decreasing the query resolution (?step=XX)", b.maxPoints)}
	}
	// PreprocessExpr resolves duration expressions ([1h:step()*2]) to the values the engine will use. It
	// rewrites the tree, so the caller's expression is not reused.
	expr, err := promql.PreprocessExpr(expr, start, end, step)
	if err != nil {
		return err
	}
	var found error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		sq, ok := node.(*parser.SubqueryExpr)
		if !ok || found != nil {
			return nil
		}
		sqStep := sq.Step
		if sqStep == 0 {
			sqStep = subqueryStep // what NoStepSubqueryIntervalFn gives the engine
		}
		switch {
		case sqStep < b.minStep:
			found = &budgetError{reasonStep, fmt.Errorf("subquery step %s in %q is below the minimum of %s", sqStep, sq.String(), b.minStep)}
		case int64(sq.Range/sqStep) > b.maxPoints:
			found = &budgetError{reasonPoints, fmt.Errorf("subquery %q would evaluate %d points per series, more than the maximum of %d. Try a larger subquery step", sq.String(), int64(sq.Range/sqStep), b.maxPoints)}
		}
		return nil
	})
	return found
}

// rejectReason returns the reason under which a failed query is counted, or "" for failures that are not
// budget rejections.
func rejectReason(err error) string {
	var (
		be  *budgetError
		tms promql.ErrTooManySamples
		eqt promql.ErrQueryTimeout
	)
	switch {
	case errors.As(err, &be):
		return be.reason
	case errors.As(err, &tms):
		return reasonSamples
	case errors.As(err, &eqt), errors.Is(err, context.DeadlineExceeded):
		return reasonTimeout
	}
	return ""
}
