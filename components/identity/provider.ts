// The one explicit Keycloak provider every identity resource uses, built from validated config.
import * as keycloak from "@pulumi/keycloak";
import * as pulumi from "@pulumi/pulumi";

/** Where Keycloak serves and who the provider signs in as (the master realm's administrator). */
export interface KeycloakEndpoint {
    /** Origin only, e.g. https://host (the provider's `url`). */
    origin: string;
    /** Relative path, e.g. /iam (the provider's `basePath`); "" when served at the root. */
    basePath: string;
    adminUser: string;
}

export function keycloakProvider(
    name: string,
    kc: KeycloakEndpoint,
    adminPassword: pulumi.Input<string>,
    /** A Keycloak deployed by this stack: configure the provider once it serves. */
    dependsOn: pulumi.Resource[] = [],
): keycloak.Provider {
    return new keycloak.Provider(
        name,
        {
            url: kc.origin,
            basePath: kc.basePath,
            realm: "master",
            clientId: "admin-cli",
            username: kc.adminUser,
            password: adminPassword,
            // Keycloak may still be starting when the program runs; log in on first use, not at configure.
            initialLogin: false,
            // Creating a realm takes Keycloak several seconds on a busy machine; the default is 5 s.
            clientTimeout: 60,
        },
        { dependsOn },
    );
}
