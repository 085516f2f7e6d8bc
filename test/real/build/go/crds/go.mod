// The custom resource definitions the bench installs, each from the Go module of the project
// that owns it (never written by hand). Nothing is built from here: `real:build` downloads
// these modules and the tests read the CRDs from the module cache.
module thanos-bridge/real/crds

go 1.25.0

require github.com/prometheus-operator/prometheus-operator v0.85.0

require sigs.k8s.io/gateway-api v1.6.3

require github.com/traefik/traefik/v3 v3.6.12
