"""Data-quality gates: which checks each table gets, their thresholds, and the history-based one."""
