package robot

import (
	"bytes"
	_ "embed"

	"github.com/prometheus/alertmanager/template"
)

//go:embed robot.tmpl
var defaultTemplates []byte

// AddTemplates adds the robots' default templates to t. User templates
// (--template.files) parsed after them may redefine them.
func AddTemplates(t *template.Template) error {
	return t.Parse(bytes.NewReader(defaultTemplates))
}
