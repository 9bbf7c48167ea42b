// Package all wires every module type of the release into one registry. It
// is the one place a new module type is added.
package all

import (
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/deviceregister"
	"github.com/tandem-id/tandem/module/deviceverify"
	"github.com/tandem-id/tandem/module/numberprompt"
	"github.com/tandem-id/tandem/module/proximity"
	"github.com/tandem-id/tandem/module/verifyaadhaar"
	"github.com/tandem-id/tandem/module/verifypan"
	"github.com/tandem-id/tandem/module/webtodevice"
)

// Registry returns a new registry holding every module type.
func Registry() *module.Registry {
	return module.NewRegistry(
		verifyaadhaar.Info(),
		verifypan.Info(),
		webtodevice.Info(),
		deviceregister.Info(),
		deviceverify.Info(),
		numberprompt.Info(),
		proximity.Info(),
	)
}
