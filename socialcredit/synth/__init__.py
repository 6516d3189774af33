"""socialcredit.synth"""
