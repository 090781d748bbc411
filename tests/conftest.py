"""Session-wide test set-up.

Triton reads TRITON_INTERPRET when it is first imported and caches it; other libraries
(transformers, torch's compiler) may import Triton before tests/test_kernels.py runs, so where the
kernel tests run is decided here, before any test module is imported (`kernel_device.py`): on a
machine without a GPU the interpreter is switched on, on one with a GPU the kernels run compiled
there. Only the kernel tests run Triton; everything else takes the PyTorch path on CPU tensors.
"""

from kernel_device import kernel_test_device

kernel_test_device()
