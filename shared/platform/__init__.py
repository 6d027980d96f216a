"""The platform: configuration, errors, clients, storage, messaging, queue endings, health.

It knows no capability: nothing here imports a capability package.
"""
