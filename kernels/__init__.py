"""arvid.kernels"""
