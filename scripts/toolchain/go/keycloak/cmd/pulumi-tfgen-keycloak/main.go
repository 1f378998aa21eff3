// pulumi-tfgen-keycloak writes the Pulumi package schema and bridge metadata the provider embeds.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	"local/pulumi-keycloak-bridge/provider"
)

func main() {
	tfgen.Main("keycloak", provider.Version, provider.Info(nil))
}
