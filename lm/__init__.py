"""arvid.lm"""
