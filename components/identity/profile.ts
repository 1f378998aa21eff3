// User-profile attributes (Keycloak's declarative user profile). Declaring the profile replaces
// Keycloak's default one, so the four standard attributes are declared here too.
import * as keycloak from "@pulumi/keycloak";

type Attribute = keycloak.types.input.RealmUserProfileAttribute;

const everyone = { views: ["admin", "user"], edits: ["admin", "user"] };
const adminsOnly = { views: ["admin"], edits: ["admin"] };

export function standardAttributes(): Attribute[] {
    const length = (max: number, min = 1) => ({ name: "length", config: { min: String(min), max: String(max) } });
    return [
        {
            name: "username",
            displayName: "${username}",
            permissions: everyone,
            validators: [
                length(255, 3),
                { name: "username-prohibited-characters" },
                { name: "up-username-not-idn-homograph" },
            ],
        },
        { name: "email", displayName: "${email}", permissions: everyone, validators: [{ name: "email" }, length(255)] },
        {
            name: "firstName",
            displayName: "${firstName}",
            permissions: everyone,
            validators: [length(255), { name: "person-name-prohibited-characters" }],
        },
        {
            name: "lastName",
            displayName: "${lastName}",
            permissions: everyone,
            validators: [length(255), { name: "person-name-prohibited-characters" }],
        },
    ];
}

/** Attributes only administrators (and the services acting as them) read and write. */
export function adminAttributes(names: string[]): Attribute[] {
    return names.map((name) => ({ name, displayName: name, permissions: adminsOnly }));
}

/**
 * Realm user profiles are kept on delete (retainOnDelete) whatever the data switches: Keycloak 26
 * refuses the empty profile the provider writes on delete, and the profile goes with its realm.
 */
export const PROFILE_TYPE = "keycloak:index/realmUserProfile:RealmUserProfile";
