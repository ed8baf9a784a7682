"""WhatsApp sessions: the app database's accounts reconciled with what the session service holds."""
