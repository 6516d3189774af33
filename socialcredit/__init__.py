"""socialcredit: a rule-of-law social credit information system."""

__version__ = "0.1.0"
