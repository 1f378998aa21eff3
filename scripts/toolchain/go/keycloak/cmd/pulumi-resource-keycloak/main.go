// pulumi-resource-keycloak: the keycloak provider plugin.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	"local/pulumi-keycloak-bridge/provider"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	tfbridge.Main("keycloak", provider.Version, provider.Info(metadata), schema)
}
