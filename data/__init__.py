"""arvid.data"""
