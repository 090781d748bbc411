"""arvid.sampling"""
