"""Analyses of stored results, shared by the claims and the chapters' figures."""
