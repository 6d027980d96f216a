"""The December 2020 outage, reproduced inside a private network namespace."""
