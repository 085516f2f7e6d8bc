// The Kubernetes provider waits, after creating or updating them, for a Deployment to roll out,
// a Service to have endpoints and an Ingress to get an address. `pulumi.com/skipAwait` turns
// that off (the stack's `skipAwait` key); deletions are awaited either way.

/** The annotation that skips the wait, for objects the provider waits on; none if `skip` is unset. */
export function awaitAnnotations(skip: boolean | undefined): {
  annotations?: Record<string, string>;
} {
  return skip === true ? { annotations: { "pulumi.com/skipAwait": "true" } } : {};
}
