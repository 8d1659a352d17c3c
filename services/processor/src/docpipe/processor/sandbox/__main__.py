"""``python -m docpipe.processor.sandbox``: run a sandbox server (see :mod:`.server`)."""

import sys

from docpipe.processor.sandbox.server import main

sys.exit(main())
