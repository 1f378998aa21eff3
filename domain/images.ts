// Image pinning, shared by the policy pack and the stack's config validation (no dependencies, so
// the program can import it without the pack's packages).

/** Images must name a tag other than `latest`, or a digest: a rollout must be reproducible. */
export function imageProblem(image: unknown): string | undefined {
    if (typeof image !== "string") return undefined; // unknown during preview: checked at update
    if (image.includes("@sha256:")) return undefined;
    const lastSegment = image.slice(image.lastIndexOf("/") + 1);
    const tag = lastSegment.includes(":") ? lastSegment.slice(lastSegment.indexOf(":") + 1) : "";
    if (!tag) return `image "${image}" has no tag: pin a version (e.g. ${image}:1.2.3) or a digest`;
    if (tag === "latest") return `image "${image}" uses :latest: pin a version or a digest`;
    return undefined;
}
