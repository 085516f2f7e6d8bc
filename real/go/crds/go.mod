// The custom resource definitions the bench installs, each from the Go module of the project
// that owns it (never written by hand). Nothing is built from here: `real:build` downloads
// these modules and the tests read the CRDs from the module cache.
module thanos-bridge/real/crds

go 1.25.0

require github.com/prometheus-operator/prometheus-operator v0.85.0
