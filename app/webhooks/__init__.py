"""Signed webhooks and Slack messages about announcements, sent from a durable outbox."""
