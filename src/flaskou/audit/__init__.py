"""The audit trail: who did what to whom, from where and when."""
