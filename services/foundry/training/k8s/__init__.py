"""Training jobs as Kubernetes workloads: `config` reads how trainer pods look from the settings,
`jobs` builds the workloads, `lifecycle` reads their status and decides what to do, `executor` is
the `JobExecutor` that talks to the API server."""
