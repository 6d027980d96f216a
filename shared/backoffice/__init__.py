"""The creditor institutions' back office: who is signed in, and the notices' pages' use cases."""
