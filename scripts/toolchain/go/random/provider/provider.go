// Package provider bridges HashiCorp's terraform-provider-random (plugin framework) to Pulumi with
// the resource tokens of @pulumi/random, so the npm SDK drives it unchanged.
//
// Why it exists: the Go module proxy reachable here serves neither pulumi-random's provider module
// nor any of its commits, but it does serve the upstream Terraform provider and the Pulumi
// Terraform bridge at the versions behind @pulumi/random 4.16.6. This package is the thin mapping
// between the two (the part pulumi-random's provider/resources.go holds).
//
// The module path sits under the upstream module's path so that the upstream internal/provider
// package may be imported (Go's internal-package rule is by import path).
package provider

import (
	"context"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pfbridge "github.com/pulumi/pulumi-terraform-bridge/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// Version is stamped at build time (-ldflags -X) with the plugin version @pulumi/random requests.
var Version = "0.0.0"

// upstream resource name -> Pulumi type name, as published in @pulumi/random.
var resources = map[string]string{
	"random_bytes":    "RandomBytes",
	"random_id":       "RandomId",
	"random_integer":  "RandomInteger",
	"random_password": "RandomPassword",
	"random_pet":      "RandomPet",
	"random_shuffle":  "RandomShuffle",
	"random_string":   "RandomString",
	"random_uuid":     "RandomUuid",
}

// Info describes the bridged provider; metadata is bridge-metadata.json (empty while tfgen runs).
func Info(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pfbridge.ShimProvider(provider.New()),
		Name:         "random",
		Version:      Version,
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-random",
		GitHubOrg:    "hashicorp",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Resources:    map[string]*tfbridge.ResourceInfo{},
		JavaScript:   &tfbridge.JavaScriptInfo{PackageName: "@pulumi/random"},
	}
	for tf, name := range resources {
		info.Resources[tf] = &tfbridge.ResourceInfo{Tok: tfbridge.MakeResource("random", "index", name)}
	}
	// random_bytes has no id attribute, and its only natural key is the secret value itself.
	info.Resources["random_bytes"].ComputeID = func(context.Context, resource.PropertyMap) (resource.ID, error) {
		return "none", nil
	}
	return info
}
