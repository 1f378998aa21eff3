// pulumi-resource-random: the random provider plugin.
package main

import (
	"context"
	_ "embed"

	pfbridge "github.com/pulumi/pulumi-terraform-bridge/pf/tfbridge"
	"github.com/terraform-providers/terraform-provider-random/pulumibridge/provider"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	meta := pfbridge.ProviderMetadata{PackageSchema: schema}
	pfbridge.Main(context.Background(), "random", provider.Info(metadata), meta)
}
