"""Alerts: events read from the marts, routed to channels (Slack, Discord, email, signed webhooks) through an outbox."""
