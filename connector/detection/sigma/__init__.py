"""Sigma rules: converted at load time with pySigma into the engine's EQL.

Layout: `fields.py` (Sysmon → ECS names, data), `pipeline.py` (our pySigma processing
pipeline), `backend.py` (the EQL backend subclass), `regex.py` (PCRE → Lucene), `metadata.py`
(title, level, ATT&CK, author, licence), `convert.py` (one file → `Converted` outcomes),
`cache.py` (outcomes cached by content and versions).

Importing this package does not import pySigma; only a conversion (a cache miss) does.
"""

from __future__ import annotations
