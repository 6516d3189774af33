"""socialcredit.derive"""
