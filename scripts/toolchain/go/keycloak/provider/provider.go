// Package provider bridges the Keycloak Terraform provider to Pulumi with the resource and function
// tokens of @pulumi/keycloak, so the npm SDK drives it unchanged.
//
// Why it exists: the Go module proxy reachable here serves no version of pulumi-keycloak's provider
// module, but it does serve the upstream Terraform provider at commit f87470c95855 (2024-12-06,
// between upstream v5.0.0 and v5.1.0) and the Pulumi Terraform bridge. pulumi-keycloak 6.13.0
// wraps upstream v5.9.0: attributes added upstream after 2024-12 are unknown to this plugin.
package provider

import (
	"strings"
	"unicode"

	"github.com/keycloak/terraform-provider-keycloak/provider"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
)

// Version is stamped at build time (-ldflags -X) with the plugin version @pulumi/keycloak requests.
var Version = "0.0.0"

// Prefixes that @pulumi/keycloak turns into modules; everything else lives in "index".
var modules = map[string]bool{"openid": true, "oidc": true, "saml": true, "ldap": true, "authentication": true}

// Where @pulumi/keycloak's names differ from the rule in token().
var resourceTokens = map[string][2]string{
	"keycloak_hardcoded_role_identity_provider_mapper":    {"index", "HardcodedRoleIdentityMapper"},
	"keycloak_custom_identity_provider_mapper":            {"index", "CustomIdentityProviderMapping"},
	"keycloak_attribute_to_role_identity_provider_mapper": {"index", "AttributeToRoleIdentityMapper"},
	"keycloak_openid_client_client_policy":                {"openid", "ClientPolicy"},
	"keycloak_saml_client_default_scopes":                 {"saml", "ClientDefaultScope"},
}

var dataSourceTokens = map[string][2]string{
	"keycloak_authentication_execution": {"index", "getAuthenticationExecution"},
	"keycloak_authentication_flow":      {"index", "getAuthenticationFlow"},
}

func pascal(words []string) string {
	var b strings.Builder
	for _, w := range words {
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

// token splits a Terraform name like keycloak_openid_client into module "openid" and name "Client".
func token(tfName string) (mod string, name string) {
	words := strings.Split(strings.TrimPrefix(tfName, "keycloak_"), "_")
	mod = "index"
	if len(words) > 1 && modules[words[0]] {
		mod, words = words[0], words[1:]
	}
	return mod, pascal(words)
}

// Info describes the bridged provider; metadata is bridge-metadata.json (empty while tfgen runs).
func Info(metadata []byte) tfbridge.ProviderInfo {
	p := provider.KeycloakProvider(nil)
	info := tfbridge.ProviderInfo{
		P:            shimv2.NewProvider(p),
		Name:         "keycloak",
		Version:      Version,
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-keycloak",
		GitHubOrg:    "keycloak",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Resources:    map[string]*tfbridge.ResourceInfo{},
		DataSources:  map[string]*tfbridge.DataSourceInfo{},
		JavaScript:   &tfbridge.JavaScriptInfo{PackageName: "@pulumi/keycloak"},
	}
	for tf := range p.ResourcesMap {
		mod, name := token(tf)
		if t, ok := resourceTokens[tf]; ok {
			mod, name = t[0], t[1]
		}
		info.Resources[tf] = &tfbridge.ResourceInfo{Tok: tfbridge.MakeResource("keycloak", mod, name)}
	}
	for tf := range p.DataSourcesMap {
		mod, name := token(tf)
		name = "get" + name
		if t, ok := dataSourceTokens[tf]; ok {
			mod, name = t[0], t[1]
		}
		info.DataSources[tf] = &tfbridge.DataSourceInfo{Tok: tfbridge.MakeDataSource("keycloak", mod, name)}
	}
	return info
}
