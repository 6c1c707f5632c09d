"""Adapters to the world outside: Fabman, the cm_user_id codec, the store and the notifier."""
