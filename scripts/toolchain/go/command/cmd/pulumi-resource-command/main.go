// pulumi-resource-command: the resource provider plugin behind @pulumi/command, built from the
// Go module proxy's modules (see ../../README.md).
package main

import (
	"fmt"
	"os"

	"cytomine-fallback/toolchain/command/provider"

	rp "github.com/pulumi/pulumi/pkg/v3/resource/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func main() {
	err := rp.Main(provider.Name, func(host *rp.HostClient) (pulumirpc.ResourceProviderServer, error) {
		if host == nil {
			return provider.New(nil), nil
		}
		return provider.New(host), nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
