"""Push notifications: device installations and notification dispatch to Azure Notification
Hubs through ONE keep-alive HTTP session per hub namespace.

- :mod:`.sas`: Shared Access Signature tokens, cached and renewed before expiry.
- :mod:`.hubs`: installation ids and hub partitioning by the first hex digit.
- :mod:`.client`: the REST client (installations, sends, retries, the in-flight bound).
- :mod:`.models`: what the HTTP endpoints take and return, and the queue messages.
- :mod:`.store`: the last change applied to each installation (Cosmos).
- :mod:`.service`: the use cases behind the triggers.
"""
