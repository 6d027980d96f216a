"""The local platform: dev host, emulator launchers and simulators. Never deployed."""
