"""socialcredit.services"""
