"""In-memory fakes of the ports the services take, for unit and function tests."""
