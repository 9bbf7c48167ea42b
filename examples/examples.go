// Package examples holds example workspace documents. Workspace is the demo
// workspace of the seeds' two-application pattern, which `tandem demo`
// applies and `tandem apply -f examples/workspace.json` can apply too.
package examples

import _ "embed"

// Workspace is the JSON of examples/workspace.json.
//
//go:embed workspace.json
var Workspace []byte
