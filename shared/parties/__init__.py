"""The party registry: creditor institutions, acquirers, PSPs, the payments node and stations.

Each party has a role, what it may act for, and API keys stored only as hashes.
"""
