// pulumi-tfgen-random writes the Pulumi package schema and bridge metadata the provider embeds.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/pf/tfgen"
	"github.com/terraform-providers/terraform-provider-random/pulumibridge/provider"
)

func main() {
	tfgen.Main("random", provider.Info(nil))
}
