"""socialcredit.domain"""
