module github.com/terraform-providers/terraform-provider-random/pulumibridge

go 1.22.7

require (
	github.com/pulumi/pulumi-terraform-bridge/pf v0.44.0
	github.com/pulumi/pulumi-terraform-bridge/v3 v3.91.0
	github.com/terraform-providers/terraform-provider-random v1.3.2-0.20240911140632-e546ae44b440
)

replace github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20240520223432-0c0bf0d65f10
