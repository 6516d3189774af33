"""socialcredit.ingest"""
