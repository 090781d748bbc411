"""Session-wide test set-up.

Triton reads TRITON_INTERPRET when it is first imported and caches it; other libraries
(transformers, torch's compiler) may import Triton before tests/test_kernels.py runs, so the
interpreter is switched on here, before any test module is imported. On CPU only the kernel tests
run Triton; everything else takes the PyTorch path.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
