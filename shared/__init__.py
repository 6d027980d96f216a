"""Everything below the triggers: configuration, errors, clients and one package per capability.

Nothing here imports ``azure.functions``.
"""
