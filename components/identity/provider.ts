// The one explicit Keycloak provider every identity resource uses, built from validated config.
import * as keycloak from "@pulumi/keycloak";
import * as pulumi from "@pulumi/pulumi";
import { StackConfig } from "../config";

export function keycloakProvider(
    name: string,
    kc: StackConfig["keycloak"],
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
