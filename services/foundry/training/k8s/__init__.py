"""Training jobs as Kubernetes workloads: `jobs` builds them, `lifecycle` reads their status and
decides what to do, `executor` is the `JobExecutor` that talks to the API server."""
