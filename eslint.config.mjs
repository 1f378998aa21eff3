import js from "@eslint/js";
import pulumi from "@pulumi/eslint-plugin";
import importX from "eslint-plugin-import-x";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import tseslint from "typescript-eslint";

// The layers, bottom to top; each may import only those below it (README "Layout"). A wrong import
// fails `npm run lint` with import-x/no-restricted-paths and the zone's message; a cycle between files
// with import-x/no-cycle. test/unit/layout.test.ts shows both failing on planted imports.
const PRODUCT = ["domain", "toolchain", "components", "program", "apps", "localenv", "cli"];
const HARNESS = ["test", "bench"];
const below = {
    domain: [],
    toolchain: [],
    components: ["domain"],
    program: ["components", "domain"],
    apps: ["program", "components", "domain", "toolchain"],
    // The local environment builds its stand-ins from the release's model and runs the pinned tools.
    localenv: ["components/model", "domain", "toolchain"],
    cli: ["apps", "program", "components", "domain", "localenv", "toolchain"],
    // The policy pack is its own package; it shares only the image rules.
    policies: ["domain"],
};
const layerZones = Object.entries(below).flatMap(([layer, allowed]) =>
    [...PRODUCT, ...HARNESS, "policies", "index.ts"]
        .filter((other) => other !== layer && !allowed.includes(other))
        .filter((other) => !allowed.some((a) => a.startsWith(`${other}/`)))
        .map((other) => ({
            target: `./${layer}`,
            from: `./${other}`,
            message: `${layer}/ imports only ${allowed.length ? allowed.join(", ") : "nothing of the project"} (layers: README "Layout")`,
        })),
);
// Inside components/: one model, one renderer per target; renderers and identity never import each other.
const COMPONENT_PARTS = ["model", "identity", "kubernetes", "vm"];
const componentBelow = { model: [], identity: ["model"], kubernetes: ["model"], vm: ["model"] };
const componentZones = COMPONENT_PARTS.flatMap((part) =>
    COMPONENT_PARTS.filter((o) => o !== part && !componentBelow[part].includes(o)).map((o) => ({
        target: `./components/${part}`,
        from: `./components/${o}`,
        message: `components/${part} imports only ${componentBelow[part].map((b) => `components/${b}`).join(", ") || "domain/"}: one model, one renderer per target`,
    })),
);
// Inside program/: config ← preflight ← targets ← main.
const programZones = [
    {
        target: "./program/config",
        from: ["./program/preflight", "./program/targets", "./program/main.ts", "./program/identity.ts"],
    },
    { target: "./program/preflight", from: ["./program/targets", "./program/main.ts", "./program/identity.ts"] },
    { target: "./program/targets", from: ["./program/main.ts"] },
].map((z) => ({ ...z, message: 'program/: config ← preflight ← targets ← main (README "Layout")' }));
// Inside apps/: the page and the render drive the fleet, never the reverse.
const appZones = [
    {
        target: "./apps/fleet",
        from: ["./apps/portal", "./apps/render", "./apps/report"],
        message: "apps/fleet is driven by the other apps, never the reverse",
    },
];
// Outside localenv/ (and its unit tests, which test its parts' small functions), the environment is
// used through its API only.
const localenvApi = ["./cli", "./bench", "./test/integration", "./test/support", "./test/fixtures"].map((target) => ({
    target,
    from: "./localenv",
    except: ["./index.ts"],
    message: "use the local environment through its API, localenv/index.ts",
}));

export default tseslint.config(
    { ignores: ["node_modules/**", "policies/node_modules/**", "bin/**", ".local/**", "**/*.mjs"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
        plugins: { "@pulumi": pulumi, "import-x": importX },
        settings: {
            "import-x/resolver-next": [createTypeScriptImportResolver({ project: "tsconfig.json" })],
            // no-cycle follows imports by parsing each file: TypeScript's parser for .ts files.
            "import-x/extensions": [".ts"],
            "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
        },
        rules: {
            "@pulumi/no-output-in-template-literal": "error",
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
            "import-x/no-restricted-paths": [
                "error",
                { zones: [...layerZones, ...componentZones, ...programZones, ...appZones, ...localenvApi] },
            ],
            "import-x/no-cycle": ["error", { ignoreExternal: true }],
            "import-x/no-duplicates": "error",
        },
    },
);
