"""Where tests/test_kernels.py runs the Triton kernels, decided once per session (by conftest.py).

`ARVID_TEST_DEVICE` says: `cpu` runs them under Triton's interpreter (TRITON_INTERPRET=1, set here
before Triton is first imported), `cuda` runs them compiled on the GPU, and `auto` (the default) is
`cuda` when torch sees a GPU and TRITON_INTERPRET=1 was not asked for, else `cpu`. Only the kernel
tests look at it: every other test uses CPU tensors, which take the PyTorch path either way.
"""

from __future__ import annotations

import os

CHOICES = ("auto", "cpu", "cuda")


def kernel_test_device() -> str:
    """Resolve `ARVID_TEST_DEVICE` to "cpu" or "cuda", write the answer back to the environment (so
    that later calls, and test modules, read the same) and, for "cpu", switch the interpreter on.

    Raises:
        ValueError: an unknown value, or `cuda` asked for together with TRITON_INTERPRET=1 (the
            interpreter runs kernels on the CPU) or on a machine whose torch sees no GPU.
    """
    choice = os.environ.get("ARVID_TEST_DEVICE", "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise ValueError(f"ARVID_TEST_DEVICE={choice!r}: expected one of {', '.join(CHOICES)}")
    interpreter = os.environ.get("TRITON_INTERPRET") == "1"
    if choice != "cpu":
        import torch  # torch does not import Triton, so the interpreter can still be switched on below

        cuda = torch.cuda.is_available()
        if choice == "cuda" and (interpreter or not cuda):
            raise ValueError("ARVID_TEST_DEVICE=cuda needs a GPU that torch sees and TRITON_INTERPRET unset "
                             f"(torch.cuda.is_available() is {cuda}, TRITON_INTERPRET="
                             f"{os.environ.get('TRITON_INTERPRET')!r})")
        choice = "cuda" if cuda and not interpreter else "cpu"
    if choice == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")
    os.environ["ARVID_TEST_DEVICE"] = choice
    return choice
