"""docpipe shared library: settings, database, storage, embeddings, auth, logging.

Submodules are imported explicitly (``from docpipe.common.db import ...``) so that a
Lambda handler pays only for what it uses at cold start.
"""

__all__: list[str] = []
