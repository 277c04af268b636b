package senders

import (
	"fmt"
	"sort"
	"strings"
	"text/template/parse"
)

// Bounds on the templates a tenant writes into its channel's fields. A
// field is executed as a Go template, and may define templates of its own:
// a few hundred bytes of defines each calling the next twice render
// gigabytes and burn CPU on every retry. Alertmanager's and the admin's
// templates (--template.files) are trusted; a tenant's are measured before
// the channel is built, and refused past these bounds.
const (
	// MaxTemplateSteps bounds the nodes one field's template executes,
	// every call of a template it defines expanded (a range counts once:
	// the data it ranges over is the notification's).
	MaxTemplateSteps = 10000
	// MaxRangeDepth bounds nested ranges (a range over the alerts within a
	// range over the alerts is quadratic in the group's size).
	MaxRangeDepth = 2
)

// checkTemplates measures every templated string of a tenant channel's
// configuration; the error names the field.
func checkTemplates(body receiverBody) error {
	for key, entries := range body {
		for i, e := range entries {
			if err := walkStrings(e, fmt.Sprintf("%s[%d]", key, i), checkTemplate); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkStrings calls f with the path and value of every string in v.
func walkStrings(v any, path string, f func(path, s string) error) error {
	switch t := v.(type) {
	case string:
		return f(path, t)
	case map[string]any:
		for k, e := range t {
			if err := walkStrings(e, path+"."+k, f); err != nil {
				return err
			}
		}
	case map[any]any:
		for k, e := range t {
			if err := walkStrings(e, fmt.Sprintf("%s.%v", path, k), f); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range t {
			if err := walkStrings(e, fmt.Sprintf("%s[%d]", path, i), f); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkTemplate measures one field's template. A template that does not
// parse is left to Alertmanager, which reports it at delivery as it always
// has.
func checkTemplate(path, text string) error {
	if !strings.Contains(text, "{{") {
		return nil
	}
	trees := map[string]*parse.Tree{}
	t := parse.New(path)
	t.Mode = parse.SkipFuncCheck
	if _, err := t.Parse(text, "", "", trees); err != nil {
		return nil
	}
	m := &templateMeter{trees: trees, cost: map[string]int{}, active: map[string]bool{}}
	names := make([]string, 0, len(trees))
	for name := range trees {
		names = append(names, name)
	}
	sort.Strings(names) // the same error every time
	for _, name := range names {
		if trees[name].Root == nil {
			continue
		}
		steps, err := m.tree(name)
		if err != nil {
			return fmt.Errorf("%s: template: %w", path, err)
		}
		if steps > MaxTemplateSteps {
			return fmt.Errorf("%s: template %q expands to more than %d steps: tenant templates are bounded", path, name, MaxTemplateSteps)
		}
	}
	return nil
}

// templateMeter computes the steps of the templates of one field.
type templateMeter struct {
	trees  map[string]*parse.Tree
	cost   map[string]int  // memoized steps per defined template
	active map[string]bool // templates being measured, for recursion
}

func (m *templateMeter) tree(name string) (int, error) {
	if c, ok := m.cost[name]; ok {
		return c, nil
	}
	if m.active[name] {
		return 0, fmt.Errorf("template %q calls itself: tenant templates may not recurse", name)
	}
	m.active[name] = true
	defer delete(m.active, name)
	c, err := m.node(m.trees[name].Root, 0)
	if err != nil {
		return 0, err
	}
	m.cost[name] = c
	return c, nil
}

// node returns the steps of n; depth is the range nesting.
func (m *templateMeter) node(n parse.Node, depth int) (int, error) {
	if n == nil {
		return 0, nil
	}
	steps := 1
	add := func(c parse.Node, d int) error {
		s, err := m.node(c, d)
		steps = min(steps+s, MaxTemplateSteps+1) // saturate: no overflow
		return err
	}
	switch t := n.(type) {
	case *parse.ListNode:
		if t == nil {
			return 0, nil
		}
		for _, c := range t.Nodes {
			if err := add(c, depth); err != nil {
				return 0, err
			}
		}
	case *parse.IfNode:
		if err := add(t.List, depth); err != nil {
			return 0, err
		}
		if err := add(t.ElseList, depth); err != nil {
			return 0, err
		}
	case *parse.WithNode:
		if err := add(t.List, depth); err != nil {
			return 0, err
		}
		if err := add(t.ElseList, depth); err != nil {
			return 0, err
		}
	case *parse.RangeNode:
		if depth+1 > MaxRangeDepth {
			return 0, fmt.Errorf("more than %d nested range: tenant templates are bounded", MaxRangeDepth)
		}
		if err := add(t.List, depth+1); err != nil {
			return 0, err
		}
		if err := add(t.ElseList, depth); err != nil {
			return 0, err
		}
	case *parse.TemplateNode:
		if _, own := m.trees[t.Name]; own {
			c, err := m.tree(t.Name)
			if err != nil {
				return 0, err
			}
			steps = min(steps+c, MaxTemplateSteps+1)
		}
		// Otherwise one of Alertmanager's or the admin's: trusted.
	}
	return steps, nil
}
