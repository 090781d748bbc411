"""Session-wide test set-up.

Triton reads TRITON_INTERPRET when it is first imported and caches it; other libraries
(transformers, torch's compiler) may import Triton before tests/test_kernels.py runs, so where the
kernel tests run is decided here, before any test module is imported (`kernel_device.py`): on a
machine without a GPU the interpreter is switched on, on one with a GPU the kernels run compiled
there. Only the kernel tests run Triton; everything else takes the PyTorch path on CPU tensors.

Ctrl-C raises `KeyboardInterrupt` here as in a terminal, even when the suite was started in the
background by a non-interactive shell, which starts it with SIGINT ignored: Python then installs no
handler, and the commands the tests start would inherit the ignoring (a handled signal is reset to
the default when a process starts another program, an ignored one stays ignored).
"""

import signal

from kernel_device import kernel_test_device

kernel_test_device()
signal.signal(signal.SIGINT, signal.default_int_handler)
