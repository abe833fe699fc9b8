"""Alert notifications -> incidents -> one diagnosis per firing, in the alert's thread.

Slack messages (Alertmanager's and Grafana's Slack templates) come through `slack_listener`,
Alertmanager's webhook through `webhook`; scheduled handoffs through `scheduler`.
"""
