"""docpipe's AWS infrastructure: Pulumi components, pure policy builders, rollout command."""

__all__: list[str] = []
