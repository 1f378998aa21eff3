// Whether the cluster's API server encrypts Secrets in etcd, as far as the stack can see it: its
// /metrics count the storage transformations of each resource by transformer; with an
// EncryptionConfiguration for Secrets, those carry the provider's prefix (k8s:enc:<provider>:v1:).
// https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/

/** True when Secrets go through an encrypting transformer, false when none does, undefined when unknown. */
export function secretsEncryptedAtRest(metrics: string): boolean | undefined {
    const series = metrics
        .split("\n")
        .filter(
            (l) =>
                l.startsWith("apiserver_storage_transformation_operations_total{") && l.includes('resource="secrets"'),
        );
    if (series.some((l) => /transformer_prefix="k8s:enc:(?!identity)[^"]*"/.test(l))) return true;
    // The series exist only where a configuration is loaded; without one, the metric names no Secrets.
    return metrics.includes("# TYPE apiserver_storage_transformation_operations_total") ? false : undefined;
}

/** The preview's warning when the cluster stores Secrets in plain text; undefined otherwise. */
export function atRestWarning(encrypted: boolean | undefined): string | undefined {
    if (encrypted !== false) return undefined;
    return (
        "this cluster's API server stores Secrets in etcd unencrypted (its /metrics show no encrypting " +
        "transformer for secrets): the tenant's generated passwords and keys would be readable in etcd's files " +
        "and backups. Give kube-apiserver --encryption-provider-config " +
        "(https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/; managed clusters: the provider's " +
        "envelope encryption, e.g. EKS encryptionConfig with a KMS key)"
    );
}
