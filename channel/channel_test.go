package channel

import (
	"testing"

	"github.com/prometheus/common/model"
)

func TestGroupLabels(t *testing.T) {
	ls := model.LabelSet{"alertname": "A", "namespace": "n", "severity": "critical"}
	tests := []struct {
		name string
		p    Policy
		want model.LabelSet
	}{
		{"by alertname", Policy{GroupBy: []model.LabelName{"alertname"}}, model.LabelSet{"alertname": "A"}},
		{"missing label left out", Policy{GroupBy: []model.LabelName{"alertname", "cluster"}}, model.LabelSet{"alertname": "A"}},
		{"nothing", Policy{}, model.LabelSet{}},
		{"all", Policy{GroupByAll: true}, ls},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.GroupLabels(ls)
			if !got.Equal(tt.want) {
				t.Errorf("GroupLabels = %v, want %v", got, tt.want)
			}
		})
	}
	all := Policy{GroupByAll: true}.GroupLabels(ls)
	all["x"] = "y"
	if _, ok := ls["x"]; ok {
		t.Error("GroupLabels with GroupByAll returned the alert's own map")
	}
}
