"""arvid.tools"""
