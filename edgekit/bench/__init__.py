"""Latency measurement: timer, statistics, conditions of the run, reports and plots."""
