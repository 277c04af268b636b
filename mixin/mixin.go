package mixin

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

//go:embed alerts.yaml dashboard.json prometheusrule.yaml
var files embed.FS

// File returns one of the mixin's files: alerts.yaml, prometheusrule.yaml
// or dashboard.json.
func File(name string) ([]byte, error) { return files.ReadFile(name) }

// Selector is one vector selector of a rule or a dashboard query.
type Selector struct {
	// Where names the rule, panel or variable the selector is in.
	Where string
	// Metric is the metric name the selector matches.
	Metric string
	// Matchers are the selector's label matchers, __name__ excluded.
	Matchers []*labels.Matcher
}

var promql = parser.NewParser(parser.Options{})

// Rules parses alerts.yaml with Prometheus's rule parser, which also checks
// every expression and annotation template.
func Rules() (*rulefmt.RuleGroups, error) {
	b, err := File("alerts.yaml")
	if err != nil {
		return nil, err
	}
	groups, errs := rulefmt.Parse(b, false, model.LegacyValidation, promql, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return nil, fmt.Errorf("alerts.yaml: %w", errors.Join(errs...))
	}
	return groups, nil
}

// Selectors returns the vector selectors of every rule and of every query of
// the dashboard (panels and variables).
func Selectors() ([]Selector, error) {
	groups, err := Rules()
	if err != nil {
		return nil, err
	}
	var out []Selector
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := "alert " + r.Alert
			if r.Record != "" {
				name = "record " + r.Record
			}
			s, err := selectors(name, r.Expr)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
	}
	queries, err := dashboardQueries()
	if err != nil {
		return nil, err
	}
	for _, q := range queries {
		s, err := selectors(q.where, q.expr)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

func selectors(where, expr string) ([]Selector, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	var out []Selector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		s := Selector{Where: where, Metric: vs.Name}
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName {
				continue
			}
			s.Matchers = append(s.Matchers, m)
		}
		out = append(out, s)
		return nil
	})
	for _, s := range out {
		if s.Metric == "" {
			return nil, fmt.Errorf("%s: a selector without a metric name in %q", where, expr)
		}
	}
	return out, nil
}

type query struct{ where, expr string }

// Dashboard is the part of a Grafana dashboard that Selectors reads.
type Dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []Panel `json:"panels"`

	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// Panel is a dashboard panel; rows hold panels of their own.
type Panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource map[string]string        `json:"datasource"`
	GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
	Targets    []struct {
		Expr       string            `json:"expr"`
		Datasource map[string]string `json:"datasource"`
	} `json:"targets"`
	Panels []Panel `json:"panels"`
}

// ReadDashboard decodes dashboard.json.
func ReadDashboard() (*Dashboard, error) {
	b, err := File("dashboard.json")
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("dashboard.json: %w", err)
	}
	return &d, nil
}

var (
	// Grafana's interval variables stand where PromQL wants a duration.
	intervalVar = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)\}?`)
	// Other variables stand inside label values ("$namespace").
	otherVar    = regexp.MustCompile(`\$\{?\w+\}?`)
	labelValues = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
)

// expand replaces Grafana's variables so that PromQL's parser accepts the
// query.
func expand(expr string) string {
	return otherVar.ReplaceAllString(intervalVar.ReplaceAllString(expr, "5m"), "x")
}

func dashboardQueries() ([]query, error) {
	d, err := ReadDashboard()
	if err != nil {
		return nil, err
	}
	var out []query
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, query{where: fmt.Sprintf("panel %q", p.Title), expr: expand(t.Expr)})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		// label_values(selector, label): the selector is PromQL.
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			return nil, fmt.Errorf("variable %q: query %q is not label_values(selector, label)", v.Name, q)
		}
		out = append(out, query{where: fmt.Sprintf("variable %q", v.Name), expr: expand(m[1])})
	}
	return out, nil
}
